"""The command line's own promises."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from pypdf import PdfReader

from tests.clientbot_at import cli_argv, cli_env


def test_serve_without_credentials_explains_how_to_create_the_app(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CLIENTBOT_"))}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    result = subprocess.run(
        cli_argv("serve"),
        cwd=tmp_path,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN" in result.stderr and "manifest.yml" in result.stderr


def test_api_token_is_printed_once_and_stored_hashed(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "tokens.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
    result = subprocess.run(
        cli_argv("api-token", "create", "--role", "manager", "--name", "ATS"),
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = result.stdout.strip()
    assert token.startswith("cbt_") and len(token) > 40
    stored = sqlite3.connect(db).execute("SELECT name, role, token_hash FROM api_tokens").fetchall()
    assert stored[0][:2] == ("ATS", "manager") and token not in stored[0][2] and len(stored[0][2]) == 64


def test_demo_fills_a_realistic_agency_once(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "demo.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{db}", "CLIENTBOT_STORAGE_DIR": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            cli_argv(*args),
            env=cli_env(env),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )

    first = run("demo")
    assert first.stdout.count("client CLT-") == 6 and "feedback for 4 quarters" in first.stdout
    counts = {
        t: sqlite3.connect(db).execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("clients", "jobs", "applications", "client_communications", "client_feedback")
    }
    assert counts["clients"] == 6 and all(n > 0 for n in counts.values()), counts
    assert "already there" in run("demo").stdout
    assert sqlite3.connect(db).execute("SELECT count(*) FROM clients").fetchone()[0] == 6
    out = tmp_path / "northwind.pdf"
    assert "wrote" in run("report", "Northwind Traders", "--out", str(out)).stdout
    report = "\n".join(page.extract_text() for page in PdfReader(out).pages)
    assert "Northwind Traders" in report and "Candidates by stage" in report
    latest = re.search(r"feedback for 4 quarters up to (\d{4}-Q\d)", first.stdout).group(1)
    year, quarter = map(int, latest.split("-Q"))
    earlier = f"{year}-Q{quarter - 1}" if quarter > 1 else f"{year - 1}-Q4"
    perf = tmp_path / "northwind-perf.pdf"
    run("report", "Northwind Traders", "--period", latest, "--vs", earlier, "--out", str(perf))
    text = "".join(page.extract_text() for page in PdfReader(perf).pages)
    assert f"Performance report · {latest} compared with {earlier}" in text
    assert "Responsiveness" in text and "Key figures" not in text
    dashboard_text = "".join(page.extract_text() for page in PdfReader(out).pages)
    assert "Key figures" in dashboard_text and "Performance report" not in dashboard_text


def test_cli_errors_name_the_problem_and_exit_2(tmp_path: Path) -> None:
    from bot.services.imports import MAX_FILE_BYTES

    big = tmp_path / "jobs.csv"
    with big.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    for args, problem in (
        (("import", "jobs", str(big)), "larger than 50 MB"),
        (("report", "CLT-NOPE", "--out", str(tmp_path / "x.pdf")), "No client matches"),
    ):
        result = subprocess.run(
            cli_argv(*args), env=cli_env(env), capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 2 and problem in result.stderr and "Traceback" not in result.stderr, args
