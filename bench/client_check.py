"""fansly-client-check for the direct-to-sandbox runs (cyrb53, spec §2.2)."""
import sys


def cyrb53(s: str, seed: int = 0) -> int:
    m = 0xFFFFFFFF
    h1, h2 = 0xDEADBEEF ^ seed, 0x41C6CE57 ^ seed
    for unit in s.encode("utf-16-le").hex(" ", 2).split():
        c = int.from_bytes(bytes.fromhex(unit), "little")
        h1 = ((h1 ^ c) * 2654435761) & m
        h2 = ((h2 ^ c) * 1597334677) & m
    h1 = (((h1 ^ (h1 >> 16)) * 2246822507) & m) ^ (((h2 ^ (h2 >> 13)) * 3266489909) & m)
    h2 = (((h2 ^ (h2 >> 16)) * 2246822507) & m) ^ (((h1 ^ (h1 >> 13)) * 3266489909) & m)
    return 4294967296 * (h2 & 0x1FFFFF) + h1


if __name__ == "__main__":
    key, path, device = sys.argv[1:4]
    print(format(cyrb53(f"{key}_{path}_{device}"), "x"))
