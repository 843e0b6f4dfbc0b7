"""The conversation store: the same tests against memory and a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from controller.conversation import CallStarted, Dialog, DialogPolicy, DialogState, UtteranceHeard
from controller.conversation.directory import Directory
from controller.records.store import ConversationStore, MemoryStore, RedisStore, decode_state, encode_state
from controller.settings import load_settings
from controller.wiring import conversation_store

StoreFactory = Callable[[float], ConversationStore]


@pytest.fixture(params=["memory", "redis"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    """Builds stores of one kind with a given TTL; closes them after the test."""
    made: list[ConversationStore] = []

    def make(ttl_s: float) -> ConversationStore:
        if request.param == "memory":
            store: ConversationStore = MemoryStore(ttl_s)
        else:
            store = RedisStore(request.getfixturevalue("redis_url"), ttl_s)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.aclose()


@pytest.fixture
def state(sample: Directory) -> DialogState:
    """A conversation in the middle: collected data, a target, a transcript."""
    dialog = Dialog(sample, DialogPolicy(greeting="Olá"))
    current, _ = dialog.handle(dialog.start("call-42"), CallStarted())
    current, _ = dialog.handle(current, UtteranceHeard("sou a ana entrega pra renata no 101"))
    return current


def test_state_survives_the_codec(state: DialogState) -> None:
    assert decode_state(encode_state(state)) == state


async def test_save_and_load(make_store: StoreFactory, state: DialogState) -> None:
    store = make_store(60)
    assert await store.load("call-42") is None
    await store.save(state)
    assert await store.load("call-42") == state


async def test_save_replaces(make_store: StoreFactory, state: DialogState) -> None:
    store = make_store(60)
    await store.save(state)
    changed = DialogState("call-42", visitor_name="Bia")
    await store.save(changed)
    assert await store.load("call-42") == changed


async def test_calls_are_kept_apart(make_store: StoreFactory, state: DialogState) -> None:
    store = make_store(60)
    other = DialogState("call-43")
    await store.save(state)
    await store.save(other)
    assert await store.load("call-42") == state
    assert await store.load("call-43") == other


async def test_delete(make_store: StoreFactory, state: DialogState) -> None:
    store = make_store(60)
    await store.save(state)
    await store.delete("call-42")
    assert await store.load("call-42") is None
    await store.delete("call-42")  # deleting twice is fine


async def test_state_expires_after_the_ttl(make_store: StoreFactory, state: DialogState) -> None:
    store = make_store(0.2)
    await store.save(state)
    assert await store.load("call-42") == state
    await asyncio.sleep(0.35)
    assert await store.load("call-42") is None


async def test_saving_again_restarts_the_ttl(make_store: StoreFactory, state: DialogState) -> None:
    store = make_store(0.3)
    await store.save(state)
    await asyncio.sleep(0.2)
    await store.save(state)
    await asyncio.sleep(0.2)
    assert await store.load("call-42") == state


def test_settings_pick_the_store(redis_url: str) -> None:
    assert isinstance(conversation_store(load_settings(redis_url=None)), MemoryStore)
    assert isinstance(conversation_store(load_settings(redis_url=redis_url, state_ttl_s=5)), RedisStore)
