"""Tests for botjob.pacing: sends spaced as Telegram counts its flood limits, on a fake clock."""

from __future__ import annotations

from botjob.pacing import Pacer
from conftest import FakeClock


def send_times(pacer: Pacer, clock: FakeClock, chat_id: int, count: int) -> list[float]:
    times = []
    for _ in range(count):
        pacer.wait(chat_id)
        times.append(round(clock.now, 2))
    return times


def test_a_private_chat_gets_a_short_burst_then_about_one_message_a_second() -> None:
    clock = FakeClock()
    times = send_times(Pacer(clock, clock.sleep), clock, 42, 5)
    assert times[:3] == [0, 0, 0] and times[3] == 1.05 and times[4] == 2.1


def test_a_group_gets_19_messages_at_once_then_waits_for_its_minute_window() -> None:
    clock = FakeClock()
    times = send_times(Pacer(clock, clock.sleep), clock, -100_1, 21)
    assert times[:19] == [0] * 19 and times[19] == 61 and times[20] == 61


def test_the_whole_bot_stays_under_30_messages_a_second() -> None:
    clock = FakeClock()
    pacer = Pacer(clock, clock.sleep)
    times = [send_times(pacer, clock, chat, 1)[0] for chat in range(1, 31)]
    assert times[:28] == [0] * 28 and times[28] == 1.05 and times[29] == 1.05


def test_one_chats_wait_does_not_push_back_another_chats_send() -> None:
    clock = FakeClock()
    pacer = Pacer(clock, clock.sleep)
    send_times(pacer, clock, -100_1, 19)  # the group's window is full until 61 s
    waits: list[float] = []
    pacer.sleep = waits.append  # the group's next send reserves its slot, then would wait...
    pacer.wait(-100_1)
    pacer.sleep = clock.sleep
    assert waits == [61]
    assert pacer.wait(42) == 0  # ...while a private chat still sends at once
