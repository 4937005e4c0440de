"""Whitelist parser for user expressions (model Hamiltonians): text -> sympy, never eval.

The text is parsed by Python's :mod:`ast` into a syntax tree; the tree is checked against a
whitelist (numbers, declared names, ``+ - * / **``, calls of named functions) and the sympy
expression is built node by node from it. No user text reaches ``eval``, ``sympify`` or
``parse_expr`` (sympy re-parses string arguments of its functions with Python's ``eval``, so a
string literal anywhere would be code execution).

The work is bounded before it is done: the text length, the number and nesting depth of the
tree nodes, the exponents of powers (and their product along nested powers), the matrix
dimension (``kron``, ``Matrix``) and an estimate of the size of the result (sympy leaves per
matrix entry times entries) are checked before the sympy operation that would exceed them.
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Mapping

import sympy as sp

__all__ = ["ExpressionError", "parse", "MAX_LENGTH", "MAX_NODES", "MAX_DEPTH",
           "MAX_EXPONENT", "MAX_DEGREE", "MAX_LITERAL_DIGITS", "MAX_RESULT_DIGITS",
           "MAX_DIMENSION", "MAX_SIZE"]

MAX_LENGTH = 10_000   # characters of text
MAX_NODES = 2_000     # syntax-tree nodes
MAX_DEPTH = 200       # nesting depth of the syntax tree
MAX_EXPONENT = 8      # |p| of a power b**p
MAX_DEGREE = 16       # product of |p| along nested powers, (b**p)**q
MAX_LITERAL_DIGITS = 15   # digits of an integer literal
MAX_RESULT_DIGITS = 1000  # digits of an exact number in the result
MAX_DIMENSION = 16    # N of an N x N matrix (kron, Matrix)
MAX_SIZE = 100_000    # estimated sympy leaves of the result, summed over matrix entries

SCALAR_FUNCTIONS = {name: getattr(sp, name) for name in (
    "sin", "cos", "tan", "exp", "sqrt", "sinh", "cosh", "tanh", "Abs")}
CONSTANTS = {"pi": sp.pi, "I": sp.I}
CONSTRUCTORS = ("kron", "Matrix", "Rational", "Integer", "Float")

_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd)
_ALLOWED_NODES = frozenset((ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name,
                            ast.Call, ast.List, ast.Load, *_OPERATORS))
_DESCRIPTIONS = {
    ast.Attribute: "attribute access", ast.Lambda: "a lambda", ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension", ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension", ast.Subscript: "indexing", ast.Starred: "unpacking",
    ast.keyword: "a keyword argument", ast.Compare: "a comparison",
    ast.BoolOp: "a boolean operator", ast.IfExp: "a conditional", ast.NamedExpr: "assignment",
    ast.JoinedStr: "an f-string", ast.Tuple: "a tuple", ast.Dict: "a dict", ast.Set: "a set",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
    ast.FloorDiv: "the operator //", ast.Mod: "the operator %", ast.MatMult: "the operator @",
    ast.BitAnd: "a bitwise operator", ast.BitOr: "a bitwise operator",
    ast.BitXor: "a bitwise operator", ast.LShift: "a bitwise operator",
    ast.RShift: "a bitwise operator", ast.Invert: "a bitwise operator", ast.Not: "not"}


class ExpressionError(ValueError):
    """A refused expression; ``str(err)`` is one line naming the offending piece."""


@dataclass(frozen=True)
class _Value:
    """A built subexpression: sympy value, matrix shape (None: scalar), size and degree.

    ``size`` bounds the sympy leaves of one entry; ``degree`` is the product of the exponents
    of the nested powers inside it.
    """

    expr: object
    shape: tuple | None
    size: int
    degree: float = 1.0

    @property
    def entries(self) -> int:
        return 1 if self.shape is None else self.shape[0] * self.shape[1]


def _describe_shape(value: _Value) -> str:
    return "a scalar" if value.shape is None else f"a {value.shape[0]}x{value.shape[1]} matrix"


class _Builder:
    """Checks a parsed tree and builds its sympy value (see :func:`parse`)."""

    def __init__(self, text: str, scalars: Mapping[str, object],
                 matrices: Mapping[str, sp.MatrixBase]):
        self.text = text
        self.scalars = {**CONSTANTS, **scalars}
        self.matrices = dict(matrices)
        names = sorted(scalars) + sorted(matrices)
        self.expected = (
            f"expected numbers, {', '.join(names + sorted(CONSTANTS))} with + - * / ** "
            f"(exponents: numbers, |p| <= {MAX_EXPONENT}) and the functions "
            f"{', '.join(list(SCALAR_FUNCTIONS) + list(CONSTRUCTORS))}")

    # ------------------------------------------------------------------ messages
    def piece(self, node) -> str:
        segment = ast.get_source_segment(self.text, node) or type(node).__name__
        return repr(segment if len(segment) <= 60 else segment[:57] + "...")

    def refuse(self, node, problem: str, expected: str | None = None):
        raise ExpressionError(f"{self.piece(node)}: {problem}; {expected or self.expected}")

    # ------------------------------------------------------------------ whitelist pass
    def check_tree(self, tree: ast.Expression):
        """Node types, names, constants, size and depth, before anything is built."""
        count, stack, unknown = 0, [(tree, 0)], []
        while stack:
            node, depth = stack.pop()
            count += 1
            if count > MAX_NODES:
                raise ExpressionError(f"more than {MAX_NODES} syntax nodes; expected a "
                                      "smaller expression")
            if depth > MAX_DEPTH:
                self.refuse(node, f"nested deeper than {MAX_DEPTH} levels (a chain of more "
                            f"than {MAX_DEPTH} terms or factors is that deep)",
                            "expected a less deeply nested expression")
            # an operator is judged at its BinOp/UnaryOp, which has the source position
            kind = type(node.op) if isinstance(node, (ast.BinOp, ast.UnaryOp)) else type(node)
            if kind not in _ALLOWED_NODES:
                self.refuse(node, f"{_DESCRIPTIONS.get(kind, kind.__name__)} is not allowed")
            if isinstance(node, ast.Constant):
                self.check_constant(node)
            elif isinstance(node, ast.Name):
                if node.id.startswith("_"):
                    self.refuse(node, "names starting with '_' are not allowed")
                if node.id not in self.scalars and node.id not in self.matrices \
                        and node.id not in SCALAR_FUNCTIONS and node.id not in CONSTRUCTORS:
                    unknown.append(node.id)
            elif isinstance(node, ast.Call):
                if not (isinstance(node.func, ast.Name)
                        and (node.func.id in SCALAR_FUNCTIONS or node.func.id in CONSTRUCTORS)):
                    self.refuse(node.func, "only the named functions can be called")
            stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
        if unknown:
            raise ExpressionError(
                f"unknown symbol(s) {', '.join(sorted(set(unknown)))}; define them in "
                f"parameters ({self.expected})")

    def check_constant(self, node: ast.Constant):
        value = node.value
        if isinstance(value, (str, bytes)):
            self.refuse(node, "string arguments are not allowed")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.refuse(node, f"the constant {type(value).__name__} is not allowed",
                        "expected a real number (the imaginary unit is I)")
        if isinstance(value, float) and not abs(value) < float("inf"):
            self.refuse(node, "the number is not finite", "expected a finite number")
        if isinstance(value, int) and len(str(value)) > MAX_LITERAL_DIGITS:
            self.refuse(node, f"an integer of more than {MAX_LITERAL_DIGITS} digits",
                        "expected a smaller integer or a float such as 1.5e20")

    # ------------------------------------------------------------------ build pass
    def build(self, node) -> _Value:
        if isinstance(node, ast.Expression):
            return self.build(node.body)
        if isinstance(node, ast.Constant):
            number = sp.Integer(node.value) if isinstance(node.value, int) \
                else sp.Float(node.value)
            return _Value(number, None, 1)
        if isinstance(node, ast.Name):
            if node.id in self.matrices:
                matrix = self.matrices[node.id]
                return _Value(matrix, matrix.shape, 1)
            if node.id in self.scalars:
                return _Value(self.scalars[node.id], None, 1)
            self.refuse(node, "a function name is not a value", "expected a call, e.g. "
                        f"{node.id}(kx)")
        if isinstance(node, ast.UnaryOp):
            operand = self.build(node.operand)
            expr = -operand.expr if isinstance(node.op, ast.USub) else operand.expr
            return _Value(expr, operand.shape, operand.size + 1, operand.degree)
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        self.refuse(node, "a list is only allowed inside Matrix(...)",
                    "expected Matrix([[a, b], [c, d]])")

    def bounded(self, node, value: _Value) -> _Value:
        """``value`` if its size estimate is within MAX_SIZE, else refuse (not yet built)."""
        if value.size * value.entries > MAX_SIZE:
            self.refuse(node, f"the result would have about {value.size * value.entries} "
                        f"terms, above the limit {MAX_SIZE}", "expected a smaller expression")
        return value

    def binary(self, node: ast.BinOp) -> _Value:
        if isinstance(node.op, ast.Pow):
            return self.power(node)
        left, right = self.build(node.left), self.build(node.right)
        degree = max(left.degree, right.degree)
        if isinstance(node.op, (ast.Add, ast.Sub)):
            if (left.shape is None) != (right.shape is None):
                self.refuse(node, "cannot add a scalar to a matrix",
                            "expected scalar terms multiplied by s0 (or the identity of the "
                            "right size)")
            if left.shape != right.shape:
                self.refuse(node, f"matrix dimensions do not match ({_describe_shape(left)} "
                            f"and {_describe_shape(right)})", "expected matrices of one size")
            shape, size = left.shape, left.size + right.size
        elif isinstance(node.op, ast.Div):
            if right.shape is not None:
                self.refuse(node, "division by a matrix", "expected a scalar denominator")
            shape, size = left.shape, left.size + right.size
        else:  # Mult
            shape, size = left.shape or right.shape, left.size + right.size
            if left.shape is not None and right.shape is not None:
                if left.shape[1] != right.shape[0]:
                    self.refuse(node, f"matrix dimensions do not match "
                                f"({_describe_shape(left)} times {_describe_shape(right)})",
                                "expected matrices of one size")
                shape, size = (left.shape[0], right.shape[1]), left.shape[1] * size
        value = self.bounded(node, _Value(None, shape, size, degree))
        op = node.op
        expr = (left.expr + right.expr if isinstance(op, ast.Add)
                else left.expr - right.expr if isinstance(op, ast.Sub)
                else left.expr / right.expr if isinstance(op, ast.Div)
                else left.expr * right.expr)
        return _Value(expr, value.shape, value.size, degree)

    def power(self, node: ast.BinOp) -> _Value:
        for part in ast.walk(node.right):
            if not isinstance(part, (ast.Constant, ast.UnaryOp, ast.BinOp) + _OPERATORS) \
                    or (isinstance(part, ast.BinOp) and isinstance(part.op, ast.Pow)):
                self.refuse(node.right, "the exponent must be a number (no symbols, calls or "
                            "powers)", f"expected an exponent like 2, -1 or 1/2 with "
                            f"|p| <= {MAX_EXPONENT}")
        exponent = self.build(node.right).expr
        if not (exponent.is_number and exponent.is_real and abs(exponent) <= MAX_EXPONENT):
            self.refuse(node.right, f"exponent {exponent} is outside [-{MAX_EXPONENT}, "
                        f"{MAX_EXPONENT}]", f"expected |p| <= {MAX_EXPONENT}")
        base = self.build(node.left)
        if base.shape is not None:
            self.refuse(node, "matrix powers are not allowed",
                        "expected the product written out, e.g. sx*sx")
        degree = base.degree * max(1.0, float(abs(exponent)))
        if degree > MAX_DEGREE:
            self.refuse(node, f"nested powers of total degree {degree:g}, above the limit "
                        f"{MAX_DEGREE}", "expected fewer nested powers")
        value = self.bounded(node, _Value(None, None, base.size + 1, degree))
        return _Value(base.expr ** exponent, None, value.size, degree)

    def call(self, node: ast.Call) -> _Value:
        name = node.func.id
        if name in SCALAR_FUNCTIONS:
            if len(node.args) != 1:
                self.refuse(node, f"{name} takes one argument", f"expected {name}(x)")
            arg = self.build(node.args[0])
            if arg.shape is not None:
                self.refuse(node, f"{name} of {_describe_shape(arg)}",
                            f"expected {name} of a scalar, times a matrix")
            value = self.bounded(node, _Value(None, None, arg.size + 1, arg.degree))
            return _Value(SCALAR_FUNCTIONS[name](arg.expr), None, value.size, arg.degree)
        if name == "kron":
            return self.kron(node)
        if name == "Matrix":
            return self.matrix(node)
        return self.number(node)

    def kron(self, node: ast.Call) -> _Value:
        expected = "expected kron(A, B, ...) of two or more matrices"
        if len(node.args) < 2:
            self.refuse(node, "kron needs at least two matrix arguments", expected)
        dimension = 1
        for arg in node.args:  # dimension first, so a huge product is never started
            if isinstance(arg, ast.Name) and arg.id in self.matrices:
                dimension *= self.matrices[arg.id].shape[0]
        if dimension > MAX_DIMENSION:
            self.refuse(node, f"a {dimension}x{dimension} matrix, above the limit "
                        f"{MAX_DIMENSION}x{MAX_DIMENSION}", "expected fewer kron factors")
        factors = [self.build(arg) for arg in node.args]
        for arg, factor in zip(node.args, factors):
            if factor.shape is None:
                self.refuse(arg, "kron arguments must be matrices", expected)
        rows = cols = 1
        for factor in factors:
            rows, cols = rows * factor.shape[0], cols * factor.shape[1]
        if max(rows, cols) > MAX_DIMENSION:
            self.refuse(node, f"a {rows}x{cols} matrix, above the limit "
                        f"{MAX_DIMENSION}x{MAX_DIMENSION}", "expected fewer kron factors")
        value = self.bounded(node, _Value(None, (rows, cols), sum(f.size for f in factors),
                                          max(f.degree for f in factors)))
        return _Value(sp.kronecker_product(*(f.expr for f in factors)), value.shape,
                      value.size, value.degree)

    def matrix(self, node: ast.Call) -> _Value:
        expected = "expected Matrix([[a, b], [c, d]]) with scalar entries"
        if len(node.args) != 1 or not isinstance(node.args[0], ast.List) \
                or not node.args[0].elts \
                or not all(isinstance(row, ast.List) for row in node.args[0].elts):
            self.refuse(node, "Matrix takes one list of rows", expected)
        rows = node.args[0].elts
        cols = len(rows[0].elts)
        if cols == 0 or any(len(row.elts) != cols for row in rows):
            self.refuse(node, "rows of different lengths", expected)
        if max(len(rows), cols) > MAX_DIMENSION:
            self.refuse(node, f"a {len(rows)}x{cols} matrix, above the limit "
                        f"{MAX_DIMENSION}x{MAX_DIMENSION}", expected)
        entries = [[self.build(entry) for entry in row.elts] for row in rows]
        for row_nodes, row in zip(rows, entries):
            for entry_node, entry in zip(row_nodes.elts, row):
                if entry.shape is not None:
                    self.refuse(entry_node, "a matrix entry is a matrix", expected)
        flat = [entry for row in entries for entry in row]
        value = self.bounded(node, _Value(None, (len(rows), cols), max(e.size for e in flat),
                                          max(e.degree for e in flat)))
        return _Value(sp.Matrix([[e.expr for e in row] for row in entries]), value.shape,
                      value.size, value.degree)

    def number(self, node: ast.Call) -> _Value:
        """Rational(p, q), Integer(n), Float(x) of number literals."""
        name = node.func.id
        arity = 2 if name == "Rational" else 1
        kinds = int if name in ("Rational", "Integer") else (int, float)
        expected = {"Rational": "expected Rational(p, q) of integers",
                    "Integer": "expected Integer(n) of an integer",
                    "Float": "expected Float(x) of a number"}[name]
        values = []
        for arg in node.args:
            sign = 1
            if isinstance(arg, ast.UnaryOp) and isinstance(arg.op, (ast.USub, ast.UAdd)):
                sign = -1 if isinstance(arg.op, ast.USub) else 1
                arg = arg.operand
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, kinds)
                    and not isinstance(arg.value, bool)):
                self.refuse(node, f"{name} of something other than a number literal",
                            expected)
            values.append(sign * arg.value)
        if len(values) != arity or (name == "Rational" and values[1] == 0):
            self.refuse(node, f"{name} with {len(values)} argument(s)", expected)
        return _Value(getattr(sp, name)(*values), None, 1)


def parse(text: str, scalars: Mapping[str, object],
          matrices: Mapping[str, sp.MatrixBase]):
    """Parse ``text`` into a sympy scalar or matrix from whitelisted pieces only.

    Parameters
    ----------
    text : str
        The expression, Python syntax: numbers, the names in ``scalars`` and ``matrices``,
        ``pi``, ``I``, ``+ - * / **`` (numeric exponents, ``|p| <=`` :data:`MAX_EXPONENT`),
        integer literals of at most :data:`MAX_LITERAL_DIGITS` digits, the functions in
        :data:`SCALAR_FUNCTIONS` of scalars, ``kron(A, B, ...)``,
        ``Matrix([[a, b], [c, d]])``, ``Rational(p, q)``, ``Integer(n)``, ``Float(x)``.
    scalars : mapping
        Name -> sympy scalar (symbols such as kx, ky and the parameters).
    matrices : mapping
        Name -> sympy Matrix (e.g. the Pauli matrices s0, sx, sy, sz).

    Returns
    -------
    sympy.Expr or sympy.Matrix

    Raises
    ------
    ExpressionError
        Anything outside the whitelist or above a bound (:data:`MAX_LENGTH`,
        :data:`MAX_NODES`, :data:`MAX_DEPTH`, :data:`MAX_EXPONENT`, :data:`MAX_DEGREE`,
        :data:`MAX_LITERAL_DIGITS`, :data:`MAX_DIMENSION`, :data:`MAX_SIZE`,
        :data:`MAX_RESULT_DIGITS`), refused before the sympy work it would
        take; the message is one line naming the offending piece and what is expected.
    """
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"{len(text)} characters, above the limit {MAX_LENGTH}; "
                              "expected a shorter expression")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        where = f" at column {err.offset}" if err.offset else ""
        raise ExpressionError(f"syntax error{where} ({err.msg}); expected a Python-syntax "
                              "expression such as 'A*sin(kx)*sx + m*sz'") from None
    except (ValueError, RecursionError, MemoryError) as err:
        raise ExpressionError(f"cannot be parsed ({type(err).__name__}); expected a "
                              "shorter, less nested expression") from None
    builder = _Builder(text.strip(), scalars, matrices)
    builder.check_tree(tree)
    expr = builder.build(tree).expr
    # exact numbers grow under * and ** (bounded by MAX_LITERAL_DIGITS, MAX_DEGREE and
    # MAX_NODES); sympy cannot print (hence lambdify) integers of more than 4300 digits
    bits = max((max(abs(n.p), n.q).bit_length() for n in expr.atoms(sp.Rational)),
               default=0)
    if bits > MAX_RESULT_DIGITS * math.log2(10):
        raise ExpressionError(f"an exact number of about {int(bits / math.log2(10))} digits, "
                              f"above the limit {MAX_RESULT_DIGITS}; expected smaller numbers "
                              "(or floats)")
    return expr
