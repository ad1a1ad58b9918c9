"""`genlab-keys [NAME ...]`: the key tables of genlab's configurable classes — each key's
default, allowed values and doc line, as declared in the class's signature
(genlab/config/keys.py). NAME is a `_target_` (genlab.models.vae.VAE) or a class name (VAE);
none: every class."""

from __future__ import annotations

import sys

from genlab.config.keys import declaring_classes, table


def resolve(name: str) -> str:
    """A `_target_` path, or the one declaring class with that class name."""
    classes = declaring_classes()
    if name in classes or name == "genlab.models.gan.GAN":
        return name
    matches = sorted(t for t in classes if t.rsplit(".", 1)[-1] == name)
    if len(matches) == 1:
        return matches[0]
    names = ", ".join(sorted({t.rsplit(".", 1)[-1] for t in classes}))
    raise SystemExit(f"error: `{name}` names no class that declares keys"
                     + (f" (several do: {', '.join(matches)})" if matches else "")
                     + f". One of: {names} (or a full `_target_` path).")


def main(argv: list[str] | None = None) -> None:
    names = argv if argv is not None else sys.argv[1:]
    if any(a in ("-h", "--help") for a in names):
        print(__doc__)
        return
    targets = [resolve(n) for n in names] or sorted(declaring_classes())
    try:
        for target in targets:
            print(f"### `{target}`\n\n{table(target)}\n")
    except BrokenPipeError:  # `genlab-keys | head`
        sys.stderr.close()


if __name__ == "__main__":
    main()
