"""Start every bankbot process on loopback and stop them together.

``python -m bot.run`` is what ``make run`` calls; tests use :class:`Stack` with free
ports and a temporary data folder.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.settings import PROJECT_ROOT, Settings

VENV_BIN = Path(sys.executable).parent


@dataclass
class Process:
    name: str
    args: list[str]
    health_url: str
    popen: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None


@dataclass
class Stack:
    """The bank, action server, Rasa server and web app as child processes."""

    settings: Settings
    model: Path
    log_dir: Path | None = None
    processes: list[Process] = field(default_factory=list)
    # Extra variables for every child process (tests: the WeChat channel's WECHAT_*).
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        s = self.settings
        env = dict(os.environ)
        env.update(
            {
                "BANKBOT_HOST": s.host,
                "BANKBOT_PROFILE": s.profile,
                "BANKBOT_DATA_DIR": str(s.data_dir),
                "BANK_PORT": str(s.bank_port),
                "RASA_PORT": str(s.rasa_port),
                "ACTION_PORT": str(s.action_port),
                "WEB_PORT": str(s.web_port),
                "BANK_URL": s.bank_url,
                "RASA_URL": s.rasa_url,
                # Rasa's HTTP API token: the Rasa server requires it, the console sends it.
                "RASA_TOKEN": s.rasa_token,
                "BANK_DB_URL": s.bank_db_url,
                "OTP_RESEND_SECONDS": str(s.otp_resend_seconds),
                "ACTION_ENDPOINT_URL": f"http://{s.host}:{s.action_port}/webhook",
                # rasa_sdk reads its bind address from SANIC_HOST.
                "SANIC_HOST": s.host,
                "PYTHONUNBUFFERED": "1",
                "TF_CPP_MIN_LOG_LEVEL": "3",
                # No internet here: telemetry retries would only slow Rasa down.
                "RASA_TELEMETRY_ENABLED": "false",
            }
        )
        if s.sandbox_clock_start is not None:
            env["SANDBOX_CLOCK_START"] = s.sandbox_clock_start.isoformat()
        env.update(self.extra_env)
        return env

    def plan(self) -> list[Process]:
        s = self.settings
        base = f"http://{s.host}"
        rasa = str(VENV_BIN / "rasa")
        # /status needs the token when the API has one (and a loaded model either way).
        status_query = f"?{urllib.parse.urlencode({'token': s.rasa_token})}" if s.rasa_token else ""
        return [
            Process(
                "bank",
                [sys.executable, "-m", "bot.bank", "--seed"],
                f"{base}:{s.bank_port}/health",
            ),
            Process(
                "actions",
                [rasa, "run", "actions", "--actions", "actions", "--port", str(s.action_port)],
                f"{base}:{s.action_port}/health",
            ),
            Process(
                "rasa",
                [
                    # `rasa run` with bot/rasa_server.py's fixes (same arguments).
                    sys.executable, "-m", "bot.rasa_server", "run", "--enable-api",
                    "--model", str(self.model),
                    "--interface", s.host,
                    "--port", str(s.rasa_port),
                    "--cors", "*",
                    "--credentials", str(PROJECT_ROOT / "credentials.yml"),
                    "--endpoints", str(PROJECT_ROOT / "endpoints.yml"),
                    # --auth-token comes from RASA_TOKEN (bot/rasa_server.py), not argv.
                ],
                f"{base}:{s.rasa_port}/status{status_query}",
            ),
            Process("web", [sys.executable, "-m", "bot.console"], f"{base}:{s.web_port}/health"),
        ]

    def start(self, timeout: float = 240.0) -> None:
        """Start all processes and wait until each answers its health URL."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        log_dir = self.log_dir or self.settings.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        env = self.env()
        for proc in self.plan():
            proc.log_path = log_dir / f"{proc.name}.log"
            log = proc.log_path.open("ab")
            proc.popen = subprocess.Popen(
                proc.args,
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.processes.append(proc)
        deadline = time.monotonic() + timeout
        for proc in self.processes:
            self._wait_healthy(proc, deadline)

    def _wait_healthy(self, proc: Process, deadline: float) -> None:
        while time.monotonic() < deadline:
            assert proc.popen is not None
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited early; see {proc.log_path}")
            try:
                with urllib.request.urlopen(proc.health_url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{proc.name} did not become healthy; see {proc.log_path}")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every process group, then SIGKILL what is left after ``grace``."""
        for proc in reversed(self.processes):
            if proc.popen and proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.processes:
            if proc.popen is None:
                continue
            try:
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait()
        self.processes.clear()


def with_rasa_token(settings: Settings) -> Settings:
    """``settings`` with a random Rasa API token for this run when none is configured."""
    if settings.rasa_token:
        return settings
    return replace(settings, rasa_token=secrets.token_urlsafe(32))


def model_to_run(settings: Settings, models_dir: Path) -> Path:
    """The version a trainer activated in the console (it survives restarts), else the newest
    archive in ``models_dir``."""
    from bot.trainer.registry import ModelRegistry

    active = ModelRegistry.from_settings(settings).active()
    if active is not None and active.path.is_file():
        return active.path
    return latest_model(models_dir)


def latest_model(models_dir: Path) -> Path:
    models = sorted(models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise SystemExit(f"No trained model in {models_dir}: run `make train` first.")
    return models[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every bankbot process.")
    parser.add_argument("--models", default=str(PROJECT_ROOT / "models"))
    args = parser.parse_args(argv)
    settings = with_rasa_token(Settings.from_env())
    model = model_to_run(settings, Path(args.models))
    stack = Stack(settings, model)
    stopping = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        print("正在启动 bankbot（银行服务、动作服务、Rasa、网页聊天）…", flush=True)
        stack.start()
        print(f"\n网页聊天: http://{settings.host}:{settings.web_port}/", flush=True)
        print(f"客服工作台: http://{settings.host}:{settings.web_port}/console/", flush=True)
        print(f"Rasa REST: {settings.rasa_url}/webhooks/rest/webhook", flush=True)
        print(f"沙箱银行:  {settings.bank_url}  (短信验证码: {settings.bank_url}"
              "/sandbox/sms-outbox?phone=13800138000)", flush=True)
        print(f"日志:      {settings.data_dir / 'logs'}", flush=True)
        print(f"模型:      {model}", flush=True)
        from bot.console.users import demo_banner, demo_credentials

        banner = demo_banner(demo_credentials(settings))
        if banner:
            print(banner, flush=True)
        print("按 Ctrl-C 停止所有进程。", flush=True)
        while not stopping:
            for proc in stack.processes:
                if proc.popen and proc.popen.poll() is not None:
                    print(f"{proc.name} 已退出，详见 {proc.log_path}", flush=True)
                    stopping = True
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        print("\n正在停止所有进程…", flush=True)
        stack.stop()
        print("已停止。", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
