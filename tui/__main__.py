"""``python -m tui``: the dashboard without going through ``hybrid``."""

from __future__ import annotations


def main() -> None:
    from hybrid.cli import Context
    from tui.cli import command

    command.main(prog_name="python -m tui", obj=Context(no_log=False))


if __name__ == "__main__":
    main()
