"""The `iphs-flow` command (also `flask --app iphs_flow ...`): operate IPHS Flow from a shell."""

from __future__ import annotations

import csv
import getpass
import html
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask import current_app

from iphs_flow.bootstrap import AppContext, build
from iphs_flow.config import Settings
from iphs_flow.engine.calendar import format_swedish
from iphs_flow.scheduler import Scheduler, run_forever
from iphs_flow.services import (
    accounts,
    api_tokens,
    case_admin,
    json_safety,
    portfolio_export,
    portfolio_news,
    registration,
    research_export,
    search_index,
    sessions,
)
from iphs_flow.services import archive_export as archive_export_service
from iphs_flow.services import audit as audit_service
from iphs_flow.services import cases as case_service
from iphs_flow.services import jobs as job_service
from iphs_flow.services import messages as message_service
from iphs_flow.services import notifications as notification_service
from iphs_flow.services import personal_data as personal_data_service
from iphs_flow.services import processes as process_service
from iphs_flow.services import retention as retention_service
from iphs_flow.services import timers as timer_service
from iphs_flow.services import versions as version_service
from iphs_flow.services.errors import InvalidInput, InvalidProcess, ServiceError
from iphs_flow.services.permissions import ROLES, Actor
from iphs_flow.services.queries import portfolio as pf
from iphs_flow.services.queries import register
from iphs_flow.services.queries import tasks as task_queries
from iphs_flow.services.queries.lessons import LessonFilters, list_lessons
from iphs_flow.services.queries.search import search, similar_cases
from iphs_flow.serving import serve as run_server
from iphs_flow.store.backup import BackupError
from iphs_flow.store.backup import backup as run_backup
from iphs_flow.store.backup import restore as run_restore
from iphs_flow.store.migrate import upgrade


def _context() -> AppContext:
    click_ctx = click.get_current_context()
    root = click_ctx.find_root()
    if isinstance(root.obj, AppContext):
        return root.obj
    try:  # run as `flask --app iphs_flow ...`: the app's own context
        if current_app:
            return current_app.extensions["iphs"]
    except (RuntimeError, KeyError):
        pass
    root.obj = build(Settings.from_env())
    return root.obj


def _actor(username: str | None) -> Actor:
    """`--as USER` acts with that user's permissions; without it, the operator at the
    server's console acts with full rights (they hold the database credentials anyway)."""
    username = username or os.environ.get("IPHS_ACTOR")
    if username:
        return _run(lambda: accounts.actor_for(_context(), username))
    return Actor(f"cli:{getpass.getuser()}", frozenset(ROLES), frozenset(), is_system=True)


def _parse_data(text: str | None) -> Any:
    if text is None:
        return {}
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")

    try:
        return json_safety.loads(text)
    except json_safety.UnsafeJson as err:
        raise click.UsageError(f"--data: {err.message}") from None


def _run(action: Callable[[], Any]) -> Any:
    """Run a use case; print a refusal as a clear message and exit non-zero, never a traceback."""
    try:
        return action()
    except InvalidProcess as err:
        where = ", ".join(f"{k} {v}" for k, v in err.where.items())
        click.echo(f"Refused: {err.message}" + (f" ({where})" if where else ""), err=True)
        sys.exit(2)
    except InvalidInput as err:
        click.echo(f"Refused: {err.message}", err=True)
        for field, messages in err.fields.items():
            for message in messages:
                click.echo(f"  {field}: {message}", err=True)
        sys.exit(2)
    except ServiceError as err:
        click.echo(f"{type(err).__name__}: {err.message}", err=True)
        sys.exit(1)


def _when(value: Any) -> str:
    return format_swedish(value) if value else "-"


@click.group(help="IPHS Flow: case management for the city's innovation work.")
def cli() -> None:
    pass


@cli.group(help="Database administration.")
def db() -> None:
    pass


@db.command("upgrade", help="Create or migrate the database to the newest schema.")
def db_upgrade() -> None:
    ctx = _context()
    upgrade(ctx.uow.engine)
    click.echo(f"Database is up to date ({ctx.uow.engine.url.render_as_string(hide_password=True)}).")


@cli.command(help="Deploy BPMN/DMN files or folders; a new version for each changed process.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--as", "actor", default=None, help="Who deploys (recorded on the version).")
def deploy(paths: tuple[Path, ...], actor: str | None) -> None:
    ctx = _context()
    files = _run(lambda: process_service.read_model_files(list(paths)))
    outcomes = _run(lambda: process_service.deploy_process(ctx, files, _actor(actor)))
    for outcome in outcomes:
        word = "deployed" if outcome.created else "unchanged"
        click.echo(f"{outcome.key}\tversion {outcome.version}\t{word}\t{outcome.name}")
    for warning in dict.fromkeys(w for o in outcomes for w in o.warnings):
        click.echo(f"warning: {warning}", err=True)


@cli.command(help="List deployed processes (newest version of each).")
def processes() -> None:
    ctx = _context()
    for info in process_service.list_processes(ctx):
        click.echo(f"{info.key}\tversion {info.version}\t{info.name}\t"
                   f"deployed {_when(info.deployed_at)} by {info.deployed_by}")


@cli.command(help="Start a case of process KEY.")
@click.argument("key")
@click.option("--data", default=None, help="Start data as a JSON object, or @file.json.")
@click.option("--as", "actor", default=None, help="The case owner.")
def start(key: str, data: str | None, actor: str | None) -> None:
    ctx = _context()
    view = _run(lambda: case_service.start_case(ctx, key, _parse_data(data), _actor(actor)))
    click.echo(f"Started {view.number}: {view.title} ({view.status})")
    _print_tasks(view.open_tasks)


def _print_tasks(tasks: list[Any]) -> None:
    for task in tasks:
        who = task.assignee or (f"group {task.candidate_group}" if task.candidate_group else "-")
        click.echo(f"  task {task.id}\t{task.case_number}\t{task.name}\t{who}\tdue {_when(task.due_at)}")


@cli.command(help="List open tasks: a user's inbox with --as, else every open task.")
@click.option("--case", "case_ref", default=None, help="Only this case (number or id).")
@click.option("--as", "actor", default=None, help="Show this user's inbox.")
def tasks(case_ref: str | None, actor: str | None) -> None:
    ctx = _context()
    who = _actor(actor)
    found = _run(lambda: task_queries.list_tasks(ctx, who, case_ref, everyone=who.is_system))
    if not found:
        click.echo("No open tasks.")
    _print_tasks(found)


@cli.command(help="Complete the open task TASK_ID with form data.")
@click.argument("task_id", type=int)
@click.option("--data", default=None, help="Form data as a JSON object, or @file.json.")
@click.option("--as", "actor", default=None)
@click.option("--version", "expected_version", type=int, default=None,
              help="Refuse if the case changed since this version.")
def complete(task_id: int, data: str | None, actor: str | None, expected_version: int | None) -> None:
    ctx = _context()
    view = _run(lambda: case_service.complete_task(ctx, task_id, _parse_data(data), _actor(actor),
                                                   expected_version))
    click.echo(f"{view.number}: {view.status}, stage {view.stage if view.stage is not None else '-'}")
    if view.incident:
        click.echo(f"  incident: {view.incident}")
    _print_tasks(view.open_tasks)


@cli.command(help="Show a case: status, open tasks, data and history.")
@click.argument("case_ref")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--as", "actor", default=None)
def show(case_ref: str, as_json: bool, actor: str | None) -> None:
    ctx = _context()
    detail = _run(lambda: case_service.get_case(ctx, case_ref, _actor(actor)))
    case = detail.case
    if as_json:
        click.echo(json.dumps({
            "number": case.number, "title": case.title, "status": case.status, "stage": case.stage,
            "process": case.process_key, "version": case.process_version, "owner": case.owner,
            "incident": case.incident, "data": detail.data,
            "open_tasks": [{"id": t.id, "name": t.name, "due_at": t.due_at.isoformat() if t.due_at else None}
                           for t in case.open_tasks],
            "history": [{"at": e.at.isoformat(), "actor": e.actor, "kind": e.kind, "task": e.task_name,
                         "data": e.data} for e in detail.history],
        }, ensure_ascii=False, indent=2, default=str))
        return
    click.echo(f"{case.number}  {case.title}")
    click.echo(f"  process {case.process_key} v{case.process_version}, status {case.status}, "
               f"stage {case.stage if case.stage is not None else '-'}, owner {case.owner}")
    if case.incident:
        click.echo(f"  incident: {case.incident}")
    if case.next_timer_at:
        click.echo(f"  next timer {_when(case.next_timer_at)}")
    click.echo("Open tasks:")
    _print_tasks(case.open_tasks)
    click.echo("History:")
    for event in detail.history:
        click.echo(f"  {_when(event.at)}\t{event.actor}\t{event.kind}\t{event.task_name or ''}")


@cli.command(help="Deliver message NAME to the one case waiting for it (or start a case with it).")
@click.argument("name")
@click.option("--correlate", "-c", multiple=True, metavar="KEY=VALUE",
              help="A correlation key, e.g. case_number='IPHS 2026/0001' (repeatable).")
@click.option("--payload", default=None, help="The message's data as a JSON object, or @file.json.")
@click.option("--signal", "is_signal", is_flag=True, help="Send a signal to every waiting case instead.")
@click.option("--as", "actor", default=None)
def message(name: str, correlate: tuple[str, ...], payload: str | None, is_signal: bool, actor: str | None) -> None:
    ctx = _context()
    correlation: dict[str, Any] = {}
    for item in correlate:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"--correlate needs KEY=VALUE, got {item!r}")
        try:
            correlation[key] = json.loads(value)
        except json.JSONDecodeError:
            correlation[key] = value
    data = _parse_data(payload)
    if is_signal:
        sent = _run(lambda: message_service.send_signal(ctx, name, data, _actor(actor)))
        click.echo(f"Signal '{sent.name}' delivered to {sent.delivered} case(s).")
        return
    outcome = _run(lambda: message_service.deliver_message(ctx, name, correlation, data, _actor(actor)))
    verb = "started" if outcome.started else "delivered to"
    click.echo(f"Message '{name}' {verb} {outcome.case_number} ({outcome.status}).")


@cli.command(help="Fire every due BPMN timer now.")
def tick() -> None:
    ctx = _context()
    run = timer_service.fire_due_timers(ctx)
    click.echo(f"{run.fired} case(s) fired, {run.incidents} incident(s), {run.conflicts} skipped.")


@cli.command(help="List the versions of a process.")
@click.argument("key")
@click.option("--as", "actor", default=None)
def versions(key: str, actor: str | None) -> None:
    for info in _run(lambda: version_service.list_versions(_context(), key, _actor(actor))):
        click.echo(f"{info.key}\tversion {info.version}\t{info.name}\tdeployed {_when(info.deployed_at)} "
                   f"by {info.deployed_by}\t{info.running_cases} open case(s)")


@cli.command(help="What changed between two versions of a process.")
@click.argument("key")
@click.argument("old", type=int)
@click.argument("new", type=int)
@click.option("--as", "actor", default=None)
def diff(key: str, old: int, new: int, actor: str | None) -> None:
    changes = _run(lambda: version_service.diff_versions(_context(), key, old, new, _actor(actor)))
    if not changes:
        click.echo("No differences.")
    for change in changes:
        click.echo(f"{change.change:<8}\t{change.kind}\t{change.element_id}\t{change.name}")


@cli.command(help="Move an open case to another version (the newest by default).")
@click.argument("case_ref")
@click.option("--to", "version", type=int, default=None)
@click.option("--preview", is_flag=True, help="Only show what would change.")
@click.option("--as", "actor", default=None)
def migrate(case_ref: str, version: int | None, preview: bool, actor: str | None) -> None:
    ctx, who = _context(), _actor(actor)
    plan = _run(lambda: version_service.preview_migration(ctx, case_ref, who, version))
    for title, items in (("Cannot move", plan.blocking), ("Changed", plan.changed),
                         ("Restarts", plan.reset), ("New elements", plan.added)):
        for item in items:
            click.echo(f"{title}: {item}")
    if preview:
        return
    view = _run(lambda: version_service.migrate_case(ctx, case_ref, who, version))
    click.echo(f"{view.number} now runs version {view.process_version}.")


@cli.command(help="Suspend a case: no completions, no timers, until resumed.")
@click.argument("case_ref")
@click.option("--reason", default="")
@click.option("--as", "actor", default=None)
def suspend(case_ref: str, reason: str, actor: str | None) -> None:
    view = _run(lambda: case_admin.suspend_case(_context(), case_ref, _actor(actor), reason))
    click.echo(f"{view.number}: {view.status}")


@cli.command(help="Resume a suspended case.")
@click.argument("case_ref")
@click.option("--as", "actor", default=None)
def resume(case_ref: str, actor: str | None) -> None:
    view = _run(lambda: case_admin.resume_case(_context(), case_ref, _actor(actor)))
    click.echo(f"{view.number}: {view.status}")


@cli.command(help="Terminate a case for good (a reason is required).")
@click.argument("case_ref")
@click.option("--reason", required=True)
@click.option("--as", "actor", default=None)
def terminate(case_ref: str, reason: str, actor: str | None) -> None:
    view = _run(lambda: case_admin.terminate_case(_context(), case_ref, _actor(actor), reason))
    click.echo(f"{view.number}: {view.status}")


@cli.command(help="Retry the failed step of a case in incident.")
@click.argument("case_ref")
@click.option("--as", "actor", default=None)
def retry(case_ref: str, actor: str | None) -> None:
    ctx = _context()
    view = _run(lambda: case_service.retry_incident(ctx, case_ref, _actor(actor)))
    click.echo(f"{view.number}: {view.status}" + (f" ({view.incident})" if view.incident else ""))


@cli.group(help="Local accounts.")
def users() -> None:
    pass


@users.command("add", help="Create a local account (the password is asked for unless --password is given).")
@click.argument("username")
@click.option("--name", "display_name", default="", help="Full name.")
@click.option("--email", default=None)
@click.option("--password", default=None, help="Better left out: it is then asked for without echo.")
@click.option("--no-password", is_flag=True, help="An account that signs in only through SSO.")
@click.option("--role", "roles", multiple=True, type=click.Choice(ROLES))
@click.option("--group", "groups", multiple=True, help="e.g. innovation-leads, gate-deciders")
@click.option("--language", type=click.Choice(["sv", "en"]), default="sv")
@click.option("--manager", default=None, help="User name of the manager (for escalations).")
def users_add(username: str, display_name: str, email: str | None, password: str | None, no_password: bool,
              roles: tuple[str, ...], groups: tuple[str, ...], language: str, manager: str | None) -> None:
    if password is None and not no_password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    info = _run(lambda: accounts.add_user(
        _context(), username, display_name, password=password, email=email, roles=set(roles),
        groups=set(groups), language=language, manager=manager))
    click.echo(f"Created {info.username} (roles: {', '.join(sorted(info.roles))}; "
               f"groups: {', '.join(sorted(info.groups)) or '-'})")


@users.command("list", help="List accounts with roles and groups.")
def users_list() -> None:
    for info in accounts.list_users(_context()):
        click.echo(f"{info.username}\t{info.display_name}\t{info.email or '-'}\t"
                   f"roles: {','.join(sorted(info.roles))}\tgroups: {','.join(sorted(info.groups)) or '-'}")


@users.command("demo", help="Create the demo users (once); prints their passwords the first time.")
def users_demo() -> None:
    created = _run(lambda: accounts.create_demo_users(_context()))
    if not created:
        click.echo("Demo users exist already (their passwords were printed when they were created).")
        return
    click.echo("Demo users (shown only now):")
    for username, password, description in created:
        click.echo(f"  {username:<8} {password}   {description}")


@users.command("roles", help="Set a user's roles (and groups, with --group); administrators only. Logged.")
@click.argument("username")
@click.option("--role", "roles", multiple=True, type=click.Choice(ROLES), help="Repeat for several roles.")
@click.option("--group", "groups", multiple=True, help="Replace the groups too (e.g. gate-deciders).")
@click.option("--as", "actor", default=None, help="The administrator making the change.")
def users_roles(username: str, roles: tuple[str, ...], groups: tuple[str, ...], actor: str | None) -> None:
    info = _run(lambda: accounts.set_roles(_context(), username, set(roles), _actor(actor),
                                           groups=set(groups) if groups else None))
    click.echo(f"{info.username}: roles {', '.join(sorted(info.roles))}; "
               f"groups {', '.join(sorted(info.groups)) or '-'}")


@users.command("deactivate", help="Stop a user from signing in; every open session ends at once.")
@click.argument("username")
@click.option("--as", "actor", default=None)
def users_deactivate(username: str, actor: str | None) -> None:
    info = _run(lambda: accounts.set_active(_context(), username, False, _actor(actor)))
    click.echo(f"{info.username} is deactivated")


@users.command("signout", help="Sign a user out everywhere: every open browser session ends at once.")
@click.argument("username")
@click.option("--as", "actor", default=None)
def users_signout(username: str, actor: str | None) -> None:
    ended = _run(lambda: sessions.sign_out_everywhere(_context(), username, _actor(actor)))
    click.echo(f"{username}: {ended} session(s) ended")


@users.command("password", help="Set a user's password (asked twice, or from IPHS_NEW_PASSWORD); sessions end.")
@click.argument("username")
@click.option("--as", "actor", default=None)
def users_password(username: str, actor: str | None) -> None:
    password = os.environ.get("IPHS_NEW_PASSWORD") or click.prompt("New password", hide_input=True,
                                                                     confirmation_prompt=True)
    _run(lambda: accounts.set_password(_context(), username, password, _actor(actor)))
    click.echo(f"{username}: password set; every open session has ended")


@users.command("log", help="Security events (logins, failed logins, role changes, denied access), newest first.")
@click.option("--user", "username", default=None)
@click.option("--event", default=None, help="e.g. login, login_failed, role_changed, access_denied")
@click.option("--limit", type=int, default=50)
@click.option("--as", "actor", default=None)
def users_log(username: str | None, event: str | None, limit: int, actor: str | None) -> None:
    entries = _run(lambda: accounts.access_log(_context(), _actor(actor), username=username, event=event,
                                                limit=limit))
    for entry in entries:
        detail = json.dumps(entry.detail, ensure_ascii=False, sort_keys=True) if entry.detail else ""
        click.echo(f"{format_swedish(entry.at)}\t{entry.event}\t{entry.username or '-'}\t"
                   f"{entry.remote_addr or '-'}\t{detail}")


@cli.command(help="Serve the web app with gunicorn (threaded workers) and one scheduler beside it.")
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
@click.option("--scheduler/--no-scheduler", default=True,
              help="Run one scheduler process beside the web workers (--no-scheduler when it runs elsewhere).")
def serve(host: str | None, port: int | None, scheduler: bool) -> None:
    run_server(Settings.from_env(), host, port, scheduler)


@cli.command(help="Back up the database and the attachments into one tar file (online: the app may keep serving).")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup(path: Path) -> None:
    settings = Settings.from_env()
    try:
        summary = run_backup(settings.database_url, settings.attachments_dir, path)
    except BackupError as err:
        click.echo(f"Backup failed: {err}", err=True)
        sys.exit(1)
    click.echo(f"{summary.path}: {summary.database} database and {summary.attachments} attachment(s), "
               f"{summary.bytes} bytes")


@cli.command(help="Restore a backup made by `iphs-flow backup` (stop the app and the schedulers first).")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace an existing database and attachments folder.")
def restore(path: Path, force: bool) -> None:
    settings = Settings.from_env()
    try:
        summary = run_restore(settings.database_url, settings.attachments_dir, path, force=force)
    except BackupError as err:
        click.echo(f"Restore refused: {err}", err=True)
        sys.exit(1)
    click.echo(f"restored the {summary.database} database and {summary.attachments} attachment(s) from {path}; "
               "run `iphs-flow db upgrade` if this version is newer than the backup")


@cli.command(help="Run the scheduler: BPMN timers, reminders, escalations, digests and mail.")
@click.option("--worker", default=None, help="A name for this scheduler in leases and logs.")
@click.option("--once", is_flag=True, help="Do what is due now and exit (e.g. from cron).")
def scheduler(worker: str | None, once: bool) -> None:
    ctx = _context()
    if once:
        tick = Scheduler(ctx, worker).run_once()
        click.echo(f"{tick.timers.fired} timer(s) fired, {sum(j.done for j in tick.jobs)} notification(s) "
                   f"handled, {tick.sent} mail(s) sent, {sum(j.incidents for j in tick.jobs)} incident(s).")
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("spiff", "apscheduler"):  # a line per task state change / per tick
        logging.getLogger(chatty).setLevel(logging.WARNING)
    run_forever(ctx, worker)


def _print_jobs(jobs: list[Any], with_body: bool = False) -> None:
    for job in jobs:
        click.echo(f"{job.id}\t{job.kind}\t{job.status}\t{_when(job.due_at)}\t{job.recipient or '-'}\t"
                   f"{job.to or '-'}\t{job.subject or '-'}\tattempts {job.attempts}"
                   + (f"\t{job.last_error}" if job.last_error else ""))
        if with_body and job.body:
            click.echo("\n".join(f"    {line}" for line in job.body.splitlines()))


@cli.command(help="Read the outbox: mails held (no SMTP server), queued, sent or failed.")
@click.option("--status", default=None, type=click.Choice(["held", "pending", "digest", "sent", "incident",
                                                           "dismissed", "digested"]))
@click.option("--body", "with_body", is_flag=True, help="Print each mail's text too.")
@click.option("--limit", type=int, default=50)
@click.option("--as", "actor", default=None)
def outbox(status: str | None, with_body: bool, limit: int, actor: str | None) -> None:
    _print_jobs(_run(lambda: job_service.list_outbox(_context(), _actor(actor), status=status, limit=limit)),
                with_body)


@cli.group(invoke_without_command=True, help="Jobs that failed all their attempts: list, retry, dismiss.")
@click.option("--as", "actor", default=None)
@click.pass_context
def incidents(click_ctx: click.Context, actor: str | None) -> None:
    if click_ctx.invoked_subcommand is None:
        found = _run(lambda: job_service.list_job_incidents(_context(), _actor(actor)))
        _print_jobs(found)
        if not found:
            click.echo("No failed jobs.")


@incidents.command("retry", help="Try a failed job again, with a fresh set of attempts.")
@click.argument("job_id", type=int)
@click.option("--as", "actor", default=None)
def incidents_retry(job_id: int, actor: str | None) -> None:
    job = _run(lambda: job_service.retry_job(_context(), job_id, _actor(actor)))
    click.echo(f"Job {job.id} is {job.status} again.")


@incidents.command("dismiss", help="Give up a failed job for good.")
@click.argument("job_id", type=int)
@click.option("--as", "actor", default=None)
def incidents_dismiss(job_id: int, actor: str | None) -> None:
    job = _run(lambda: job_service.dismiss_job(_context(), job_id, _actor(actor)))
    click.echo(f"Job {job.id} is {job.status}.")


@cli.group(help="In-app notifications and mail settings.")
def notifications() -> None:
    pass


@notifications.command("list", help="A person's notifications, newest first.")
@click.option("--as", "actor", required=True, help="Whose notifications.")
@click.option("--unread", is_flag=True)
def notifications_list(actor: str, unread: bool) -> None:
    for note in _run(lambda: notification_service.list_notifications(_context(), _actor(actor),
                                                                      unread_only=unread)):
        mark = " " if note.read_at else "*"
        click.echo(f"{mark} {_when(note.created_at)}\t{note.subject}\t{note.link}")


@notifications.command("mode", help="Immediate mails, or a daily or weekly digest.")
@click.argument("username")
@click.argument("mode", type=click.Choice(["immediate", "daily", "weekly"]))
@click.option("--as", "actor", default=None)
def notifications_mode(username: str, mode: str, actor: str | None) -> None:
    _run(lambda: notification_service.set_notify_mode(_context(), _actor(actor), username, mode))
    click.echo(f"{username}: {mode}")


@cli.group(help="Personal API tokens, e.g. for an integration's service account (users add --no-password).")
def tokens() -> None:
    pass


@tokens.command("create", help="Make a token for --as USER; it is printed once and never again.")
@click.option("--as", "actor", required=True, help="Whose token (an active account).")
@click.option("--name", required=True, help="What the token is for, e.g. 'diariet'.")
@click.option("--scope", type=click.Choice(["read", "write"]), default="read", show_default=True,
              help="write includes read.")
@click.option("--days", type=int, default=None, help="Expires after this many days (default: never).")
def tokens_create(actor: str, name: str, scope: str, days: int | None) -> None:
    made = _run(lambda: api_tokens.create_token(_context(), _actor(actor), name, [scope], days))
    click.echo(f"token {made.info.id} for {made.info.username} ({' '.join(made.info.scopes)}):")
    click.echo(made.secret)
    click.echo("Keep it now: only its hash is stored.", err=True)


@tokens.command("list", help="Tokens of --as USER, or of --user U for an administrator.")
@click.option("--as", "actor", default=None)
@click.option("--user", "username", default=None)
def tokens_list(actor: str | None, username: str | None) -> None:
    if not (actor or username):
        raise click.UsageError("say whose tokens: --as USER (your own) or --user USER")
    for info in _run(lambda: api_tokens.list_tokens(_context(), _actor(actor), username)):
        click.echo(f"{info.id}	iphs_{info.prefix}_…	{info.name}	{' '.join(info.scopes)}	{info.state}	"
                   f"created {_when(info.created_at)}	expires {_when(info.expires_at)}	"
                   f"last used {_when(info.last_used_at)}")


@tokens.command("revoke", help="Stop a token at once (your own, or anyone's as an administrator).")
@click.argument("token_id", type=int)
@click.option("--as", "actor", default=None)
def tokens_revoke(token_id: int, actor: str | None) -> None:
    info = _run(lambda: api_tokens.revoke_token(_context(), token_id, _actor(actor)))
    click.echo(f"token {info.id} of {info.username}: {info.state}")


@cli.group(help="The e-archive: deliver closed cases as E-ARK SIP packages (CITS ERMS, PREMIS).")
def archive() -> None:
    pass


@archive.command("export", help="Package closed cases: CASE... by number or id, or every case closed in a period.")
@click.argument("case_refs", nargs=-1)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the packages to (created if missing).")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Closed on or after (YYYY-MM-DD).")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Closed on or before (YYYY-MM-DD).")
@click.option("--pseudonymise/--no-pseudonymise", default=None,
              help="Replace people by pseudonyms (default: as IPHS_ARCHIVE_PSEUDONYMISE says per process).")
@click.option("--zip", "as_zip", is_flag=True, help="Write each package as a ZIP file.")
@click.option("--as", "actor", default=None)
def archive_export(case_refs: tuple[str, ...], out_dir: Path, start: Any, end: Any, pseudonymise: bool | None,
                   as_zip: bool, actor: str | None) -> None:
    if bool(case_refs) == bool(start or end):
        raise click.UsageError("name the cases, or give a period with --from and --to (not both)")
    if not case_refs and not (start and end):
        raise click.UsageError("a period needs both --from and --to")
    out_dir.mkdir(parents=True, exist_ok=True)
    who = _actor(actor)
    ctx = _context()
    refs: list[str | int] = list(case_refs) or list(
        _run(lambda: archive_export_service.closed_cases(ctx, start.date(), end.date(), who)))
    if not refs:
        click.echo("no closed cases in that period")
        return
    with click.progressbar(refs, label="Paketerar", file=sys.stderr) as bar:
        for ref in bar:
            view = _run(lambda ref=ref: archive_export_service.export_case(
                ctx, ref, out_dir, who, pseudonymise=pseudonymise, as_zip=as_zip))
            click.echo(f"{view.case_number}\t{view.path}\t{view.files} files\t{view.bytes} bytes\t"
                       f"METS sha256 {view.mets_sha256}")


@cli.group("personal-data", help="A person's register extract, corrections and erasure (GDPR).")
def personal_data_group() -> None:
    pass


@personal_data_group.command("extract", help="Every place USER appears; --json for the reply to the person.")
@click.argument("username")
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "actor", default=None)
def personal_data_extract(username: str, as_json: bool, actor: str | None) -> None:
    made = _run(lambda: personal_data_service.register_extract(_context(), username, _actor(actor)))
    if as_json:
        click.echo(json.dumps(made.as_json(), ensure_ascii=False, indent=2))
        return
    click.echo(f"{made.display_name} ({made.username}) {made.email or ''}")
    for name, items in made.sections:
        click.echo(f"{name}: {len(items)}")
        for item in items:
            click.echo(f"  {item.case_number or '-'}\t{_when(item.at)}\t{item.what}\t{item.place}")


@personal_data_group.command("correct", help="Correct USER's name or e-mail; the reason is logged.")
@click.argument("username")
@click.option("--name", "display_name", default=None)
@click.option("--email", default=None)
@click.option("--reason", required=True)
@click.option("--as", "actor", default=None)
def personal_data_correct(username: str, display_name: str | None, email: str | None, reason: str,
                          actor: str | None) -> None:
    _run(lambda: personal_data_service.correct_person(_context(), username, _actor(actor), display_name=display_name,
                                                      email=email, reason=reason))
    click.echo(f"corrected {username}")


@personal_data_group.command("erase", help="Erase USER: pseudonymised where records are kept, deleted elsewhere.")
@click.argument("username")
@click.option("--preview", is_flag=True, help="Only say what would happen where.")
@click.option("--yes", "confirmed", is_flag=True, help="Do it without asking.")
@click.option("--as", "actor", default=None)
def personal_data_erase(username: str, preview: bool, confirmed: bool, actor: str | None) -> None:
    who = _actor(actor)
    plan = _run(lambda: personal_data_service.erasure_preview(_context(), username, who))
    for step in plan.steps:
        click.echo(f"{step.place}\t{step.rows}\t{step.action}\t{step.why}")
    click.echo(f"{plan.cases} cases keep their records with {username} pseudonymised")
    if preview:
        return
    if not confirmed and not click.confirm(f"Erase {username} for good?", err=True):
        click.echo("nothing was changed", err=True)
        sys.exit(1)
    _run(lambda: personal_data_service.erase_person(_context(), username, who, confirm=username))
    click.echo(f"erased {username}")


@cli.group(help="Retention (gallring): rules, weeding lists to approve, weeding.")
def retention() -> None:
    pass


@retention.command("rules", help="List the retention rules; --defaults installs the example decisions.")
@click.option("--defaults", is_flag=True)
@click.option("--as", "actor", default=None)
def retention_rules(defaults: bool, actor: str | None) -> None:
    who = _actor(actor)
    if defaults:
        _run(lambda: retention_service.install_default_rules(_context(), who))
    for rule in _run(lambda: retention_service.list_rules(_context(), who)):
        kept = "for ever" if rule.keep_days is None else f"{rule.keep_days} days"
        click.echo(f"{rule.id}\t{rule.document_type}\t{rule.process_key or '*'}\t{','.join(rule.outcomes) or '*'}\t"
                   f"{kept}\t{rule.decision}")


@retention.command("propose", help="Make the list of what is due now (nothing is weeded until approved).")
@click.option("--as", "actor", default=None)
def retention_propose(actor: str | None) -> None:
    made = _run(lambda: retention_service.propose_weeding(_context(), _actor(actor)))
    for item in made.items:
        click.echo(f"{item.document_type}\t{item.case_number or '-'}\t{item.description}")
    click.echo(f"weeding list {made.id}: {len(made.items)} items; approve with: iphs-flow retention approve {made.id}")


@retention.command("approve", help="Approve weeding list LIST_ID; the scheduler weeds it within the hour.")
@click.argument("list_id", type=int)
@click.option("--as", "actor", default=None)
def retention_approve(list_id: int, actor: str | None) -> None:
    _run(lambda: retention_service.approve_weeding(_context(), list_id, _actor(actor)))
    click.echo(f"weeding list {list_id} approved")


@retention.command("apply", help="Weed what approved lists name, now (the scheduler does this hourly).")
def retention_apply() -> None:
    click.echo(f"{retention_service.apply_approved_weeding(_context())} weeded")


@cli.command("audit", help="Who read or changed which case, newest first (--csv for all of it).")
@click.option("--case", "case_ref", default=None)
@click.option("--user", "username", default=None)
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--kind", type=click.Choice(["read", "change"]), default=None)
@click.option("--csv", "as_csv", is_flag=True)
@click.option("--as", "actor", default=None)
def audit_command(case_ref: str | None, username: str | None, start: Any, end: Any, kind: str | None,
                  as_csv: bool, actor: str | None) -> None:
    who = _actor(actor)
    filters = {"case_ref": case_ref, "username": username, "start": start.date() if start else None,
               "end": end.date() if end else None, "kind": kind}
    if as_csv:
        _run(lambda: audit_service.audit_trail(_context(), who, limit=1, **filters))
        for chunk in audit_service.audit_csv(_context(), who, **filters):
            click.echo(chunk, nl=False)
        return
    page = _run(lambda: audit_service.audit_trail(_context(), who, limit=200, **filters))
    for row in page.rows:
        click.echo(f"{_when(row.at)}\t{row.username}\t{row.kind}\t{row.case_number}\t{row.what}")
    if page.next_cursor:
        click.echo("(older entries: use --csv for all)", err=True)
@cli.group("search", help="Search across cases (what /sok and /api/v1/search do), and keep the index in step.")
def search_group() -> None:
    pass


@search_group.command("query", help="Cases holding every word of WORDS, best first, as --as USER may see them.")
@click.argument("words", nargs=-1, required=True)
@click.option("--as", "actor", default=None)
@click.option("--status", default=None, help="Only cases with this status.")
@click.option("--field", "field_", default=None, help="Only matches in this part: title, need, lessons ...")
@click.option("--limit", type=int, default=20)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def search_query(words: tuple[str, ...], actor: str | None, status: str | None, field_: str | None, limit: int,
                 as_json: bool) -> None:


    found = _run(lambda: search(_context(), " ".join(words), _actor(actor), status=status, field_=field_,
                                limit=limit))
    if as_json:
        click.echo(json.dumps({"total": found.total, "hits": [
            {"number": h.number, "title": h.title, "status": h.status, "stage": h.stage, "field": h.field,
             "snippet": h.snippet, "case_id": h.case_id} for h in found.hits]}, ensure_ascii=False, indent=2))
        return
    click.echo(f"{found.total} matching case(s)")
    for hit in found.hits:
        snippet = html.unescape(re.sub(r"</?mark>", "*", hit.snippet))
        click.echo(f"{hit.number}\t{hit.status}\t{hit.title}\n    [{hit.field}] {snippet}")


@search_group.command("similar", help="The cases most like a need TEXT (title and need), with status and lessons.")
@click.argument("text")
@click.option("--as", "actor", default=None)
@click.option("--limit", type=int, default=5)
def search_similar(text: str, actor: str | None, limit: int) -> None:
    for item in _run(lambda: similar_cases(_context(), text, _actor(actor), limit)):
        outcome = f", last decision {item.outcome}" if item.outcome else ""
        click.echo(f"{item.number}\t{item.status}{outcome}\t{item.title}")
        if item.lessons:
            click.echo(f"    lessons: {item.lessons}")


@search_group.command("reindex", help="Rebuild every case's search documents from its data and history.")
@click.option("--as", "actor", default=None)
def search_reindex(actor: str | None) -> None:
    count = _run(lambda: search_index.rebuild(_context(), _actor(actor)))
    click.echo(f"reindexed {count} case(s)")


@cli.group("digest", help="The monthly 'Nytt i portföljen' digest.")
def digest_group() -> None:
    pass


@digest_group.command("preview", help="Print the digest USER would get for MONTH (YYYY-MM, default last month).")
@click.option("--user", "username", required=True, help="Whose digest: the cases they may see, in their language.")
@click.option("--month", default=None, help="The month the digest tells of, e.g. 2026-11.")
@click.option("--as", "actor", default=None)
def digest_preview(username: str, month: str | None, actor: str | None) -> None:
    shown = _run(lambda: portfolio_news.preview(_context(), username, month or portfolio_news.last_month(),
                                                _actor(actor)))
    state = "subscribed" if shown.subscribed else "not subscribed"
    click.echo(f"To: {username} ({state}); month {shown.month}")
    if shown.empty:
        click.echo("Nothing new that month among the cases they may see: no mail would be sent.")
    click.echo(f"Subject: {shown.subject}\n")
    click.echo(shown.body)
@cli.group("register", help="The register (diariet): search it, answer a records request, maintain its lists.")
def register_group() -> None:
    pass


@register_group.command("list", help="Registered cases and documents matching every filter, newest first.")
@click.option("--number", default="")
@click.option("--from", "date_from", default="", help="Registered on or after (2026-12-01).")
@click.option("--to", "date_to", default="", help="Registered on or before.")
@click.option("--classification", default="")
@click.option("--unit", default="")
@click.option("--text", "q", default="", help="Words of a description.")
@click.option("--party", default="", help="A sender or recipient.")
@click.option("--page", default="1")
@click.option("--as", "actor", default=None)
def register_list(number: str, date_from: str, date_to: str, classification: str, unit: str, q: str, party: str,
                  page: str, actor: str | None) -> None:
    args = {"number": number, "from": date_from, "to": date_to, "classification": classification, "unit": unit,
            "q": q, "party": party, "page": page}
    found = _run(lambda: register.search_register(_context(), register.parse_query(args), _actor(actor)))
    click.echo(f"{found.total} case(s), page {found.page} of {found.pages}")
    for row in found.rows:
        r = row.registration
        click.echo(f"{r.number}\t{r.registered_on.isoformat()}\t{r.classification or '-'}\t{r.unit or '-'}\t"
                   f"{r.description}")
        for d in row.documents:
            secret = f" [sekretess: {d.secret}]" if d.secret else ""
            click.echo(f"    {d.full_number}\t{d.registered_at.date().isoformat()}\t{d.direction}\t"
                       f"{d.counterpart}\t{d.description}{secret}")


@register_group.command("request", help="Answer a public-records request for CASE: what exists, what is secret.")
@click.argument("case")
@click.option("--as", "actor", default=None)
def register_request(case: str, actor: str | None) -> None:
    answer = _run(lambda: register.records_request(_context(), case, _actor(actor)))
    click.echo(json.dumps(answer.as_json(), ensure_ascii=False, indent=2))


def _list_file(path: str) -> list[dict[str, Any]]:
    """Entries from a JSON list of {code, name[, active]} or a CSV file with the columns code;name."""
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith(".json"):
        data = json.loads(text)
        if not isinstance(data, list):
            raise click.ClickException("the JSON file must hold a list of {code, name}")
        return data

    dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else ";", delimiters=";,\t")
    rows = [r for r in csv.reader(text.splitlines(), dialect) if r and any(c.strip() for c in r)]
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["code", "name"]:
        rows = rows[1:]
    return [{"code": r[0], "name": r[1] if len(r) > 1 else ""} for r in rows]


@register_group.command("load", help="Load the klassificeringsstruktur (classes) or the OSL provisions from FILE.")
@click.argument("which", type=click.Choice(["classes", "provisions"]))
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--as", "actor", default=None)
def register_load(which: str, file: str, actor: str | None) -> None:
    load = registration.load_classes if which == "classes" else registration.load_provisions
    count = _run(lambda: load(_context(), _list_file(file), _actor(actor)))
    click.echo(f"loaded {count} {which}; entries not in the file are no longer offered")


@register_group.command("lists", help="The klassificeringsstruktur and the OSL provisions as they stand.")
def register_lists() -> None:
    for title, entries in (("classes", registration.list_classes(_context())),
                           ("provisions", registration.list_provisions(_context()))):
        click.echo(f"{title}:")
        for e in entries:
            click.echo(f"  {e.code}\t{e.name}" + ("" if e.active else "\t(inactive)"))
@cli.command("portfolio", help="The portfolio (what /portfolj shows) as --as USER may see it: a summary, "
             "--csv TABLE to print one table, or --xlsx FILE to write every table to an Excel workbook.")
@click.option("--as", "actor", default=None)
@click.option("--csv", "csv_table", default=None, metavar="TABLE",
              help="Print this table as CSV: funnel, gates, stage_times, gate_times, outcomes, reasons, "
                   "implemented, goals, budget, overdue.")
@click.option("--xlsx", "xlsx_file", default=None, type=click.Path(dir_okay=False, writable=True),
              help="Write every table to this .xlsx file.")
@click.option("--from", "date_from", default=None, help="First day of the period (YYYY-MM-DD).")
@click.option("--to", "date_to", default=None, help="Last day of the period (YYYY-MM-DD).")
@click.option("--period", default=None, help="active (any time in the period, the default) or started.")
@click.option("--unit", default=None)
@click.option("--process", default=None)
@click.option("--goal", default=None, help="An Agenda 2030 goal, 1 to 17.")
@click.option("--status", default=None)
def portfolio_command(actor: str | None, csv_table: str | None, xlsx_file: str | None, date_from: str | None,
                      date_to: str | None, period: str | None, unit: str | None, process: str | None,
                      goal: str | None, status: str | None) -> None:
    raw = {"from": date_from, "to": date_to, "period": period, "unit": unit, "process": process, "goal": goal,
           "status": status}
    filters = _run(lambda: pf.read_filters({k: v for k, v in raw.items() if v is not None}))
    found = _run(lambda: pf.read_portfolio(_context(), _actor(actor), filters))
    if csv_table:
        table = _run(lambda: found.table(csv_table))
        click.echo(portfolio_export.table_csv(table), nl=False)
        return
    if xlsx_file:
        Path(xlsx_file).write_bytes(portfolio_export.tables_xlsx(found.tables))
        click.echo(f"wrote {len(found.tables)} tables about {found.cases} case(s) to {xlsx_file}")
        return
    click.echo(f"{found.cases} case(s) in the selection")
    for table in found.tables:
        click.echo(f"{table.key}\t{len(table.rows)} row(s)\t{table.title}")
@cli.group("export", help="Exports of the portfolio: `export research` for the accompanying research (issue 18).")
def export_group() -> None:
    pass


@export_group.command("research", help="The portfolio as a Frictionless Data Package (CSV files, datapackage.json), "
                      "people pseudonymised, free text only from shareable fields, scrubbed; every export is logged.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="An empty or new folder to write the package to.")
@click.option("--from", "period_from", default=None, help="Cases active on or after this day (YYYY-MM-DD).")
@click.option("--to", "period_to", default=None, help="Cases started on or before this day (YYYY-MM-DD).")
@click.option("--process", "process_key", default=None, help="Only cases of this process (its key).")
@click.option("--zip", "as_zip", is_flag=True, help="Also pack the folder as DIR.zip.")
@click.option("--as", "actor", default=None, help="Export as this user (a researcher or an administrator).")
def export_research_command(out_dir: Path, period_from: str | None, period_to: str | None, process_key: str | None,
                            as_zip: bool, actor: str | None) -> None:


    ctx = _context()
    who = _actor(actor)
    flt = _run(lambda: research_export.parse_filter(
        ctx, {"period_from": period_from, "period_to": period_to, "process_key": process_key}))
    total = _run(lambda: research_export.expected_rows(ctx, flt, who))
    with click.progressbar(length=max(total, 1), label="Exporterar", file=sys.stderr) as bar:
        view = _run(lambda: research_export.export_research(ctx, out_dir, flt, who, channel="cli",
                                                            progress=bar.update))
    for name, rows in view.row_counts.items():
        click.echo(f"{name}.csv\t{rows} rows")
    click.echo(f"datapackage.json\t{view.path / 'datapackage.json'}\texport {view.id} logged")
    if as_zip:
        folder = out_dir.resolve()
        archive = shutil.make_archive(str(folder), "zip", root_dir=folder.parent, base_dir=folder.name)
        click.echo(f"zip\t{archive}")


@export_group.command("log", help="The research exports taken: who, when, filter, rows per file (administrators).")
@click.option("--as", "actor", default=None)
def export_log_command(actor: str | None) -> None:
    for entry in _run(lambda: research_export.list_exports(_context(), _actor(actor), everyone=True)):
        flt = ", ".join(f"{k}={v}" for k, v in entry.filter.items() if v) or "all cases"
        counts = ", ".join(f"{k} {v}" for k, v in entry.row_counts.items())
        click.echo(f"{entry.id}\t{entry.at:%Y-%m-%d %H:%M}\t{entry.username}\t{entry.channel}\t{flt}\t{counts}")


def main() -> None:
    cli(prog_name="iphs-flow")


if __name__ == "__main__":
    main()


@cli.group("lessons", help="The lessons library (what /lardomar and /api/v1/lessons show).")
def lessons_group() -> None:
    pass


def _print_lessons(page: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"total": page.total, "next_cursor": page.next_cursor, "items": [
            {"id": item.id, "source": item.source, "stage": item.stage, "outcome": item.outcome, "unit": item.unit,
             "goals": list(item.goals), "year": item.year, "worked": item.worked, "not_worked": item.not_worked,
             "reusable": item.reusable, "internal": item.internal, "case_number": item.case_number}
            for item in page.items]}, ensure_ascii=False, indent=2))
        return
    click.echo(f"{page.total} lesson(s)")
    for item in page.items:
        case = item.case_number or "(case not visible to you)"
        click.echo(f"#{item.id}\t{item.year}\t{item.source}\t{item.outcome}\t{case}")
        text = html.unescape(re.sub(r"</?mark>", "*", item.snippet)) if item.snippet else \
            (item.reusable or item.worked or item.not_worked or "")
        if text:
            click.echo(f"    {text[:300]}")


def _lesson_filters(goal: int | None, unit: str | None, stage: int | None, outcome: str | None,
                    year: int | None, source: str | None) -> Any:
    return LessonFilters(goal=goal, unit=unit, stage=stage, outcome=outcome, year=year, source=source)


_LESSON_OPTIONS = [
    click.option("--as", "actor", default=None),
    click.option("--goal", type=int, default=None, help="An Agenda 2030 goal, 1-17."),
    click.option("--unit", default=None),
    click.option("--stage", type=int, default=None, help="The stage the case had reached."),
    click.option("--outcome", default=None),
    click.option("--year", type=int, default=None),
    click.option("--source", type=click.Choice(["evaluation", "closure", "rejection", "stop"]), default=None),
    click.option("--limit", type=int, default=20),
    click.option("--json", "as_json", is_flag=True, help="Machine-readable output."),
]


def _lesson_options(command: Any) -> Any:
    for option in reversed(_LESSON_OPTIONS):
        command = option(command)
    return command


@lessons_group.command("list", help="Lessons --as USER may read, newest first.")
@_lesson_options
def lessons_list(actor: str | None, goal: int | None, unit: str | None, stage: int | None, outcome: str | None,
                 year: int | None, source: str | None, limit: int, as_json: bool) -> None:
    page = _run(lambda: list_lessons(_context(), _actor(actor), filters=_lesson_filters(
        goal, unit, stage, outcome, year, source), limit=limit))
    _print_lessons(page, as_json)


@lessons_group.command("search", help="Lessons holding every word of WORDS, best first.")
@click.argument("words", nargs=-1, required=True)
@_lesson_options
def lessons_search(words: tuple[str, ...], actor: str | None, goal: int | None, unit: str | None,
                   stage: int | None, outcome: str | None, year: int | None, source: str | None, limit: int,
                   as_json: bool) -> None:
    page = _run(lambda: list_lessons(_context(), _actor(actor), q=" ".join(words), filters=_lesson_filters(
        goal, unit, stage, outcome, year, source), limit=limit))
    _print_lessons(page, as_json)

