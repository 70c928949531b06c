"""Hostile Xpress stream data for tests and benchmarks (standard library only): PSRP messages
of one fragment each whose blob is a long run of "A", in WinRM's Xpress framing, each 64 KiB
block LZ77+Huffman-compressed to about 1.2 KB (one match of 17 bytes every 2 bits), as a
client may send them in a Send (MS-WSMV product note <134>: per block, the original length - 1
and the compressed length - 1 as little-endian u16). No LZ77+Huffman compressor is on a
registry; this one knows a single table.

The table (MS-XCA 2.1, a complete prefix code): the end-of-data symbol 256 and symbol 270 (a
match of 3 + 14 bytes at distance 1) 2 bits each, the 256 literals 9 bits each.
"""

import struct

BLOCK = 64 * 1024
FRAGMENT_HEADER = 21
_MATCH = 17


def _codes():
    """Canonical Huffman codes (symbol -> bit string) of the table, by (length, symbol)."""
    lengths = {256: 2, 270: 2, **{literal: 9 for literal in range(256)}}
    codes, code, previous = {}, 0, None
    for symbol in sorted(lengths, key=lambda s: (lengths[s], s)):
        if previous is not None:
            code = (code + 1) << (lengths[symbol] - lengths[previous])
        codes[symbol] = format(code, f"0{lengths[symbol]}b")
        previous = symbol
    table = bytearray(256)
    for symbol, length in lengths.items():
        table[symbol // 2] |= length << (4 * (symbol % 2))
    return codes, bytes(table)


_CODES, _TABLE = _codes()


def _block(prefix: bytes) -> bytes:
    """One framed 64 KiB block: `prefix` as literals, then "A" to the block's end."""
    codes = _CODES
    bits = [codes[b] for b in prefix] + [codes[ord("A")]]
    left = BLOCK - len(prefix) - 1
    bits += [codes[270]] * (left // _MATCH) + [codes[ord("A")]] * (left % _MATCH)
    bits.append(codes[256])
    stream = "".join(bits)
    # Whole 16-bit words, and two more: the decoder reads 32 bits ahead.
    stream += "0" * (-len(stream) % 16) + "0" * 32
    words = b"".join(
        struct.pack("<H", int(stream[i : i + 16], 2)) for i in range(0, len(stream), 16)
    )
    body = _TABLE + words
    return struct.pack("<HH", BLOCK - 1, len(body) - 1) + body


def fragment_header(object_id: int, blob: int) -> bytes:
    """A whole message's one fragment (start and end flags) of `blob` bytes."""
    return struct.pack(">QQBI", object_id, 0, 0x3, blob)


def message(object_id: int, blocks: int) -> bytes:
    """One PSRP fragment of `blocks` x 64 KiB (header included), Xpress-framed."""
    head = fragment_header(object_id, blocks * BLOCK - FRAGMENT_HEADER)
    return _block(head) + _block(b"") * (blocks - 1)
