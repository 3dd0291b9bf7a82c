"""The exported page's one hot loop, a matrix-vector product, as a WebAssembly module with 128-bit SIMD.

A 2x256 LSTM step is ~0.8M multiply-adds; plain JavaScript does about a tenth of a microsecond per
four of them, which caps the page near 1,000 characters/s, while SIMD with eight independent
accumulators reaches five times that (python -m bench.export). The module is small enough to write
out by hand, so it is assembled here, byte by byte, rather than shipped as an opaque binary or built
by a toolchain: the WebAssembly text it corresponds to is in each function's comment.

The matrix is stored in panels of PANEL rows: panel p holds, for k = 0..K-1, the PANEL values
W[PANEL p + r][k] side by side (chargen/export/playground.js lays the weights out so). One panel's
sums then stay in eight registers while x is read once, one splatted value per k.
"""

from __future__ import annotations

PANEL = 32  # rows per panel: eight f32x4 accumulators
_ACCUMULATORS = PANEL // 4


def _uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _sleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        done = (n == 0 and not byte & 0x40) or (n == -1 and byte & 0x40)
        out.append(byte | (0 if done else 0x80))
        if done:
            return bytes(out)


def _vector(items: list[bytes]) -> bytes:
    return _uleb(len(items)) + b"".join(items)


def _section(code: int, body: bytes) -> bytes:
    return bytes([code]) + _uleb(len(body)) + body


def _name(s: str) -> bytes:
    return _uleb(len(s)) + s.encode()


# Opcodes used (the core and SIMD specifications' numbering).
I32, V128 = 0x7F, 0x7B
BLOCK, LOOP, BR, BR_IF, END, VOID = 0x02, 0x03, 0x0C, 0x0D, 0x0B, 0x40
LOCAL_GET, LOCAL_SET = 0x20, 0x21
I32_CONST, I32_EQZ, I32_LT_U, I32_ADD, I32_SUB, I32_SHL = 0x41, 0x45, 0x49, 0x6A, 0x6B, 0x74
SIMD = 0xFD
V128_LOAD, V128_LOAD32_SPLAT, V128_STORE, V128_CONST, F32X4_ADD, F32X4_MUL = 0x00, 0x09, 0x0B, 0x0C, 0xE4, 0xE6


def get(i: int) -> bytes:
    return bytes([LOCAL_GET]) + _uleb(i)


def put(i: int) -> bytes:
    return bytes([LOCAL_SET]) + _uleb(i)


def const(n: int) -> bytes:
    return bytes([I32_CONST]) + _sleb(n)


def simd(op: int, *immediates: int) -> bytes:
    return bytes([SIMD]) + _uleb(op) + b"".join(_uleb(i) for i in immediates)


def _matvec_body() -> bytes:
    """matvec(w, x, K, panels, out): out[j] = sum_k W[j][k] x[k] for the panels' rows; byte offsets.

        xend = x + 4K
        block $done  loop $panel
          br_if $done (panels == 0)
          a0..a7 = 0;  xp = x
          loop $k
            xv = v128.load32_splat xp
            a_i += v128.load offset=16i (w) * xv      for i < 8
            w += 128;  xp += 4
            br_if $k (xp < xend)
          end
          v128.store offset=16i (out) a_i           for i < 8
          out += 128;  panels -= 1
          br $panel
        end end
    """
    w, x, k, panels, out = range(5)  # the parameters
    xp, xend = 5, 6  # i32 locals
    acc = list(range(7, 7 + _ACCUMULATORS))  # v128 locals
    xv = 7 + _ACCUMULATORS
    zero = simd(V128_CONST) + bytes(16)
    code = bytearray()
    code += get(x) + get(k) + const(2) + bytes([I32_SHL, I32_ADD]) + put(xend)
    code += bytes([BLOCK, VOID, LOOP, VOID])
    code += get(panels) + bytes([I32_EQZ, BR_IF]) + _uleb(1)
    for a in acc:
        code += zero + put(a)
    code += get(x) + put(xp)
    code += bytes([LOOP, VOID])
    code += get(xp) + simd(V128_LOAD32_SPLAT, 2, 0) + put(xv)
    for i, a in enumerate(acc):
        code += get(a) + get(w) + simd(V128_LOAD, 4, 16 * i) + get(xv) + simd(F32X4_MUL) + simd(F32X4_ADD) + put(a)
    code += get(w) + const(4 * PANEL) + bytes([I32_ADD]) + put(w)
    code += get(xp) + const(4) + bytes([I32_ADD]) + put(xp)
    code += get(xp) + get(xend) + bytes([I32_LT_U, BR_IF]) + _uleb(0)
    code += bytes([END])
    for i, a in enumerate(acc):
        code += get(out) + get(a) + simd(V128_STORE, 4, 16 * i)
    code += get(out) + const(4 * PANEL) + bytes([I32_ADD]) + put(out)
    code += get(panels) + const(1) + bytes([I32_SUB]) + put(panels)
    code += bytes([BR]) + _uleb(0)
    code += bytes([END, END, END])  # loop $panel, block $done, the function
    locals_ = _vector([_uleb(2) + bytes([I32]), _uleb(_ACCUMULATORS + 1) + bytes([V128])])
    body = locals_ + bytes(code)
    return _uleb(len(body)) + body


def module() -> bytes:
    """The module: imports env.memory, exports matvec."""
    types = _section(1, _vector([bytes([0x60]) + _vector([bytes([I32])] * 5) + _vector([])]))
    imports = _section(2, _vector([_name("env") + _name("memory") + bytes([0x02, 0x00]) + _uleb(1)]))
    functions = _section(3, _vector([_uleb(0)]))
    exports = _section(7, _vector([_name("matvec") + bytes([0x00]) + _uleb(0)]))
    code = _section(10, _vector([_matvec_body()]))
    return b"\0asm" + (1).to_bytes(4, "little") + types + imports + functions + exports + code
