"""Command line: `python -m controller [run|check|chat|demo|report|audit|passes|phone] ...`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from controller.settings import SettingsError, load_settings

COMMANDS = ("run", "check", "chat", "demo", "report", "audit", "passes", "phone")


async def _serve() -> int:
    from controller.wiring import Service

    settings = load_settings()
    service = Service(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await service.start()
    try:
        await service.run_until(stop)
    finally:
        await service.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in COMMANDS else "run"
    if command == "chat":
        from controller.tools.chat import main as chat_main

        return chat_main(argv)
    if command == "phone":
        from controller.tools.phone import main as phone_main

        return phone_main(argv)
    if command == "audit":
        from controller.tools.audit_cli import main as audit_main

        return audit_main(argv)
    if command == "passes":
        from controller.tools.passes_cli import main as passes_main

        return passes_main(argv)
    if command == "report":
        from controller.tools.report import main as report_main

        return report_main(argv)
    if command == "check":
        from controller.tools.check import run_check

        argparse.ArgumentParser(prog="python -m controller check", description=run_check.__doc__).parse_args(argv)
        return run_check()
    try:
        level = load_settings().log_level
    except SettingsError as error:
        print(f"portaria: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if command == "demo":
        from controller.tools.demo import run_demo

        return asyncio.run(run_demo(argv))
    argparse.ArgumentParser(prog="python -m controller", description="Run the Portaria service.").parse_args(argv)
    try:
        return asyncio.run(_serve())
    except SettingsError as error:
        print(f"portaria: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # a fatal start-up error gets one line, not a traceback
        print(f"portaria: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
