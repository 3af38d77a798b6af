"""Following a case (issue 18 point 2) through the shipped innovation process, the scheduler and a
real SMTP server: who may follow, who is told of what, once, in their language, without secrets;
updates to the followers; the monthly "Nytt i portföljen" digest."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select

from iphs_flow.cli import cli
from iphs_flow.engine import clock
from iphs_flow.engine.calendar import STOCKHOLM
from iphs_flow.scheduler import Scheduler
from iphs_flow.services import accounts, following, notifications, portfolio_news, processes
from iphs_flow.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from iphs_flow.services.portfolio_news import Month, send_moment
from iphs_flow.store.tables import Outbox, SecrecyMarking
from tests.conftest import ROOT, make_context
from tests.integration.process_driver import ACTORS, G1_APPROVE, NEED, UNDERSTAND, Walk
from tests.people import ANNA, BERTIL, DESIGNER, LEAD

TUESDAY = datetime(2026, 11, 10, 9, 0, tzinfo=STOCKHOLM)


@pytest.fixture
def world(db_url, mail_server):
    ctx = make_context(db_url, forms_dir=ROOT / "forms", bpmn_dir=ROOT / "bpmn", smtp_host="127.0.0.1",
                       smtp_port=mail_server.port, base_url="https://iphs.example.se")
    processes.deploy_process(ctx, processes.read_model_files([ROOT / "bpmn"]), DESIGNER)
    for person in ACTORS.values():
        accounts.add_user(ctx, person.username, person.username.title(), roles=set(person.roles),
                          groups=set(person.groups), email=f"{person.username}@example.se",
                          manager="frida" if person.username == "anna" else None)
    accounts.add_user(ctx, "bertil", "Bertil Berg", email="bertil@example.se")
    # Erik is an innovation lead (sees every case) who reads English; Frida is Anna's manager.
    accounts.add_user(ctx, "erik", "Erik Ek", email="erik@example.se", language="en", roles={"innovation_lead"})
    accounts.add_user(ctx, "frida", "Frida Fors", email="frida@example.se", language="sv")
    clock.freeze(TUESDAY)
    yield ctx
    ctx.close()


def who(ctx, username: str):
    return accounts.actor_for(ctx, username)


def follower_mails(server, *people: str) -> list[tuple[str, str]]:
    wanted = {f"{p}@example.se" for p in people}
    return sorted((m.to, m.subject) for m in server.received() if m.to in wanted)


def run_schedulers(ctx, times: int = 3) -> None:
    """Two schedulers side by side, each ticking a few times: nobody may be told twice."""
    first, second = Scheduler(ctx, "one"), Scheduler(ctx, "two")
    for _ in range(times):
        first.run_once()
        second.run_once()


def test_a_follower_is_told_once_of_each_stage_change_and_decision_in_their_language(world, mail_server) -> None:
    walk = Walk.to_g1(world)
    following.follow(world, walk.case_id, who(world, "erik"))
    following.follow(world, walk.number, who(world, "frida"))
    following.follow(world, walk.case_id, who(world, "frida"))  # twice is once
    run_schedulers(world)
    before = follower_mails(mail_server, "erik", "frida")
    assert before == []  # following tells nothing by itself

    walk.complete("G1_decide", G1_APPROVE)
    run_schedulers(world)
    assert follower_mails(mail_server, "erik", "frida") == sorted([
        ("erik@example.se", f"Decision in {walk.number}: Approved"),
        ("erik@example.se", f"{walk.number} has moved on to Understand the need"),
        ("frida@example.se", f"Beslut i {walk.number}: Godkänd"),
        ("frida@example.se", f"{walk.number} har gått vidare till Förstå behovet"),
    ])
    stage_mail = next(m for m in mail_server.received() if m.to == "frida@example.se" and "vidare" in m.subject)
    assert "från Behov inlämnat till Förstå behovet" in stage_mail.body
    assert f"https://iphs.example.se/cases/{walk.case_id}" in stage_mail.body
    assert stage_mail.language == "sv"
    in_app = [n.subject for n in notifications.list_notifications(world, who(world, "erik"))]
    assert sorted(in_app) == sorted([f"Decision in {walk.number}: Approved",
                                     f"{walk.number} has moved on to Understand the need"])

    walk.complete("understand", UNDERSTAND)
    run_schedulers(world)
    mails = follower_mails(mail_server, "erik")
    assert mails.count(("erik@example.se", f"{walk.number} has moved on to Idea & concept")) == 1
    assert len(mails) == 3
    assert ("stage_entered", None) in walk.history()


def test_the_owner_and_the_people_on_a_case_are_not_followers_unless_they_choose(world, mail_server) -> None:
    walk = Walk.to_g1(world)
    walk.complete("G1_decide", G1_APPROVE)
    run_schedulers(world)
    assert following.list_following(world, ANNA) == []
    assert following.list_following(world, LEAD) == []
    subjects = [m.subject for m in mail_server.received() if m.to == "anna@example.se"]
    assert not any("har gått vidare" in s for s in subjects)  # the owner gets the process's mails only


def test_a_secret_marked_reason_never_reaches_a_followers_mail(world, mail_server) -> None:
    secret, open_ = Walk.to_g1(world), Walk.to_g1(world)
    with world.uow.write() as tx:
        tx.session.execute(insert(SecrecyMarking).values(
            case_id=secret.case_id, target_kind="field", target="reason", provision="OSL 31 kap. 16 §",
            marked_by="adam", marked_at=clock.now()))
        tx.commit()
    for walk in (secret, open_):
        following.follow(world, walk.case_id, who(world, "erik"))
        walk.complete("G1_decide", {"decision": "rejected", "reason": f"Affärsvillkor för {walk.number}"})
    run_schedulers(world)
    bodies = {m.subject: m.body for m in mail_server.received() if m.to == "erik@example.se"}
    secret_mail = bodies[f"Decision in {secret.number}: Rejected"]
    open_mail = bodies[f"Decision in {open_.number}: Rejected"]
    assert "Affärsvillkor" not in secret_mail and "Reason" not in secret_mail
    assert f"Affärsvillkor för {open_.number}" in open_mail  # an unmarked reason does reach followers
    in_app = notifications.list_notifications(world, who(world, "erik"))
    assert not any("Affärsvillkor" in n.body for n in in_app if n.case_id == secret.case_id)


def test_a_follower_who_lost_sight_of_the_case_is_not_told(world, mail_server) -> None:
    walk = Walk.to_g1(world)
    following.follow(world, walk.case_id, who(world, "frida"))  # as Anna's manager she sees the case
    following.follow(world, walk.case_id, who(world, "erik"))
    with world.uow.write() as tx:  # Anna moves to another unit: Frida is no longer her manager
        tx.users.by_username("anna").manager_username = None
        tx.commit()
    walk.complete("G1_decide", G1_APPROVE)
    run_schedulers(world)
    assert follower_mails(mail_server, "frida") == []
    assert len(follower_mails(mail_server, "erik")) == 2
    assert following.list_following(world, who(world, "frida")) == []  # not listed either
    assert following.unfollow(world, walk.case_id, who(world, "frida")) is True  # but she may still leave


def test_nobody_may_follow_a_case_they_may_not_see(world) -> None:
    walk = Walk.to_g1(world)
    with pytest.raises(NotFound):
        following.follow(world, walk.case_id, BERTIL)
    with pytest.raises(NotFound):
        following.unfollow(world, walk.case_id, BERTIL)
    with pytest.raises(NotFound):
        following.follow(world, 10**12, who(world, "erik"))
    assert following.list_following(world, BERTIL) == []
    assert following.follow(world, walk.case_id, ANNA).number == walk.number  # the owner may choose to
    assert [f.number for f in following.list_following(world, ANNA)] == [walk.number]
    assert following.unfollow(world, walk.case_id, ANNA) is True
    assert following.unfollow(world, walk.case_id, ANNA) is False


def test_an_innovation_lead_writes_to_the_followers_and_the_update_is_on_the_case(world, mail_server) -> None:
    walk = Walk.to_g1(world)
    following.follow(world, walk.case_id, who(world, "frida"))
    following.follow(world, walk.case_id, LEAD)  # the author is not told of her own update
    text = "Piloten startar i tre skolor efter jullovet.\r\nVi söker fler skolor."
    view = following.send_update(world, walk.case_id, text, LEAD)
    assert view.body == "Piloten startar i tre skolor efter jullovet.\nVi söker fler skolor."
    with pytest.raises(Conflict):
        following.send_update(world, walk.case_id, text, LEAD)  # a double submit
    run_schedulers(world)
    [mail] = [m for m in mail_server.received() if m.to == "frida@example.se"]
    assert mail.subject == f"Nytt om {walk.number} Tryggare skolvägar"
    assert "Vi söker fler skolor." in mail.body and "Lena skriver" in mail.body
    assert not [m for m in mail_server.received() if m.to == "lena@example.se" and "Nytt om" in m.subject]
    assert [u.body for u in following.list_updates(world, walk.case_id, ANNA)] == [view.body]
    assert ("followers_updated", None) in walk.history()

    with pytest.raises(InvalidInput) as too_long:
        following.send_update(world, walk.case_id, "x" * (following.MAX_UPDATE + 1), LEAD)
    assert too_long.value.fields["body"][0].startswith("too long")
    with pytest.raises(InvalidInput) as empty:
        following.send_update(world, walk.case_id, " \n\x00 ", LEAD)
    assert empty.value.fields == {"body": ["empty"]}
    with pytest.raises(Forbidden):
        following.send_update(world, walk.case_id, "Hej", ANNA)  # the owner is not the case's lead
    with pytest.raises(NotFound):
        following.send_update(world, walk.case_id, "Hej", BERTIL)
    assert len(following.list_updates(world, walk.case_id, LEAD)) == 1


def test_the_case_lead_named_at_assignment_may_write_to_the_followers(world) -> None:
    walk = Walk.start(world)
    walk.complete("need", NEED)
    walk.complete("assign_lead", {"innovation_lead": "erik"})
    with world.uow.write() as tx:  # Erik leaves the role but stays in the leads' group, which works on the case
        erik = tx.users.by_username("erik")
        tx.users.set_roles(erik.id, set())
        tx.users.set_groups(erik.id, {"innovation-leads"})
        tx.commit()
    erik = who(world, "erik")
    assert "innovation_lead" not in erik.roles
    assert following.send_update(world, walk.case_id, "Vi har bokat ett första möte.", erik).author == "erik"
    with pytest.raises(Forbidden):  # someone else who sees the case is not its lead
        following.send_update(world, walk.case_id, "Hej", who(world, "frida"))


def test_each_follower_hears_by_their_own_mail_setting(world, mail_server) -> None:
    walk = Walk.to_g1(world)
    following.follow(world, walk.case_id, who(world, "erik"))
    following.follow(world, walk.case_id, who(world, "frida"))
    following.set_settings(world, who(world, "erik"), "none", False)
    following.set_settings(world, who(world, "frida"), "daily", False)
    walk.complete("G1_decide", G1_APPROVE)
    run_schedulers(world)
    assert follower_mails(mail_server, "erik", "frida") == []  # Erik: not by mail; Frida: tomorrow's digest
    assert len(notifications.list_notifications(world, who(world, "erik"))) == 2  # still in the app
    with world.uow.read() as tx:
        held = tx.session.scalars(select(Outbox).where(Outbox.recipient == "frida", Outbox.status == "digest")).all()
    assert len(held) == 2
    clock.freeze(datetime(2026, 11, 11, 7, 1, tzinfo=STOCKHOLM))
    run_schedulers(world)
    [digest] = [m for m in mail_server.received() if m.to == "frida@example.se"]
    assert digest.subject == "Sammanfattning från IPHS Flow: 2 meddelanden"
    with pytest.raises(InvalidInput):
        following.set_settings(world, ANNA, "hourly", False)


def test_the_first_working_day_of_a_month_is_when_the_digest_goes_out() -> None:
    assert send_moment(Month(2026, 12)) == datetime(2026, 12, 1, 7, 0, tzinfo=STOCKHOLM)  # a Tuesday
    assert send_moment(Month(2027, 1)) == datetime(2027, 1, 4, 7, 0, tzinfo=STOCKHOLM)  # New Year, a weekend
    assert send_moment(Month(2026, 8)) == datetime(2026, 8, 3, 7, 0, tzinfo=STOCKHOLM)
    with pytest.raises(InvalidInput):
        Month.parse("2026-13")
    with pytest.raises(InvalidInput):
        Month.parse("november")


def test_the_monthly_digest_holds_exactly_the_visible_cases_and_goes_out_once(world, mail_server) -> None:
    clock.freeze(datetime(2026, 10, 20, 10, 0, tzinfo=STOCKHOLM))
    october = Walk.to_g1(world)  # started before November, and nothing happened to it there
    clock.freeze(datetime(2026, 11, 3, 10, 0, tzinfo=STOCKHOLM))
    annas = Walk.to_g1(world)
    annas.complete("G1_decide", G1_APPROVE)
    bertils = Walk.start(world, owner=BERTIL)  # Frida is not Bertil's manager: she may not see his case
    bertils.complete("need", dict(NEED, title="Bertils hemliga idé"), actor=BERTIL)
    clock.freeze(datetime(2026, 11, 10, 9, 0, tzinfo=STOCKHOLM))
    following.set_settings(world, who(world, "frida"), "same", True)
    following.set_settings(world, who(world, "erik"), "same", True)

    clock.freeze(datetime(2026, 12, 1, 6, 59, tzinfo=STOCKHOLM))
    run_schedulers(world)
    assert [m for m in mail_server.received() if "portfölj" in m.subject.lower()] == []  # not before 07:00

    clock.freeze(datetime(2026, 12, 1, 7, 5, tzinfo=STOCKHOLM))
    run_schedulers(world)
    run_schedulers(world)  # a restart, another scheduler: still once
    digests = [m for m in mail_server.received() if m.subject.startswith(("Nytt i portföljen", "New in the"))]
    assert sorted((m.to, m.subject) for m in digests) == [
        ("erik@example.se", "New in the portfolio, November 2026"),
        ("frida@example.se", "Nytt i portföljen november 2026")]
    fridas = next(m.body for m in digests if m.to == "frida@example.se")
    assert annas.number in fridas and "Förstå behovet" in fridas and "Godkänd" in fridas
    assert bertils.number not in fridas and "Bertils hemliga idé" not in fridas
    assert october.number not in fridas  # nothing happened to it in November
    eriks = next(m.body for m in digests if m.to == "erik@example.se")
    assert bertils.number in eriks and annas.number in eriks  # a lead sees every case

    shown = portfolio_news.preview(world, "frida", "2026-11", who(world, "frida"))
    assert [i.number for i in shown.news.new_cases] == [annas.number]
    assert [i.number for i in shown.news.decisions] == [annas.number]
    assert shown.body == fridas
    with pytest.raises(Forbidden):
        portfolio_news.preview(world, "erik", "2026-11", who(world, "frida"))

    clock.freeze(datetime(2026, 12, 15, 9, 0, tzinfo=STOCKHOLM))
    following.set_settings(world, who(world, "bo"), "same", True)  # subscribed after this month's went out
    run_schedulers(world)
    assert len([m for m in mail_server.received() if m.subject.startswith(("Nytt i", "New in"))]) == 2


def test_the_digest_preview_command_prints_what_would_be_sent(world, db_url) -> None:
    clock.freeze(datetime(2026, 11, 3, 10, 0, tzinfo=STOCKHOLM))
    walk = Walk.to_g1(world)
    result = CliRunner().invoke(cli, ["digest", "preview", "--user", "frida", "--month", "2026-11"], obj=world)
    assert result.exit_code == 0, result.output
    assert "Subject: Nytt i portföljen november 2026" in result.output
    assert walk.number in result.output and "not subscribed" in result.output
    bad = CliRunner().invoke(cli, ["digest", "preview", "--user", "frida", "--month", "2026-13"], obj=world)
    assert bad.exit_code == 2 and "month" in bad.output
    clock.freeze(datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc))


def test_erasing_a_person_deletes_what_they_follow_and_their_settings(world) -> None:
    from iphs_flow.services import personal_data
    from iphs_flow.store.tables import CaseFollower, FollowPreference
    from tests.people import ADMIN

    walk = Walk.to_g1(world)
    following.follow(world, walk.case_id, who(world, "frida"))
    following.set_settings(world, who(world, "frida"), "none", True)
    places = {step.place for step in personal_data.erasure_preview(world, "frida", ADMIN).steps}
    assert {"case_follower", "follow_preference"} <= places
    personal_data.erase_person(world, "frida", ADMIN, confirm="frida")
    with world.uow.read() as tx:
        assert tx.session.scalars(select(CaseFollower)).all() == []
        assert tx.session.scalars(select(FollowPreference)).all() == []
