"""A browserless Streamlit client: Streamlit's own websocket protocol, as the browser speaks it.

One :class:`StreamlitClient` is one browser tab: it connects to ``/_stcore/stream`` of a server
on the loopback interface, sends ``BackMsg.rerun_script`` with the page and the widget states
(the way the frontend does when a widget changes), and reads the ``ForwardMsg`` stream until
the run ends, keeping the elements it drew. Like the browser, it keeps the messages the server
marks cacheable and tells the server which ones it has, so that unchanged elements come back
as references, and it downloads each new picture URL once (the browser's image cache).
Widgets are found by their user key (the last part of Streamlit's widget id).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlparse

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Common_pb2 import DoubleArray, StringArray
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

FINISHED = ForwardMsg.ScriptFinishedStatus
DONE = {
    FINISHED.FINISHED_SUCCESSFULLY,
    FINISHED.FINISHED_WITH_COMPILE_ERROR,
    FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
}


class ProtocolError(RuntimeError):
    """The server said something this client cannot follow (or nothing in time)."""


@dataclass
class Drawn:
    """One element of a run: its proto and the fragment that drew it ('' for the whole script)."""

    element: Element
    fragment: str

    @property
    def kind(self) -> str:
        return self.element.WhichOneof("type") or ""

    @property
    def proto(self):
        return getattr(self.element, self.kind)

    @property
    def widget_key(self) -> str | None:
        """The user key of a widget (Streamlit ids are ``$$ID-<hash>-<key>``), else None."""
        wid = getattr(self.proto, "id", "")
        parts = wid.split("-", 2) if isinstance(wid, str) else []
        return parts[2] if len(parts) == 3 and parts[0] == "$$ID" else None


@dataclass
class Run:
    """What one rerun drew, in order."""

    drawn: list[Drawn] = field(default_factory=list)
    seconds: float = 0.0

    def of(self, kind: str) -> Iterator:
        return (d.proto for d in self.drawn if d.kind == kind)

    def markdown(self) -> list[str]:
        return [m.body for m in self.of("markdown")]

    def metrics(self) -> dict[str, str]:
        return {m.label: m.body for m in self.of("metric")}

    def captions(self) -> list[str]:
        return [img.caption for imgs in self.of("imgs") for img in imgs.imgs]

    def errors(self) -> list[str]:
        return [e.message for e in self.of("exception")] + [a.body for a in self.of("alert") if a.format == a.ERROR]

    def widget(self, key: str, prefix: bool = False) -> Drawn:
        for d in self.drawn:
            wkey = d.widget_key
            if wkey is not None and (wkey.startswith(key) if prefix else wkey == key):
                return d
        raise ProtocolError(f"no widget with key {key!r} in this run ({len(self.drawn)} elements)")


def widget_state(drawn: Drawn, value) -> WidgetState:
    """The state the browser sends for ``drawn`` set to ``value`` (formatted option text, or a number)."""
    state = WidgetState(id=drawn.proto.id)
    if drawn.kind in {"selectbox", "radio"}:
        state.string_value = str(value)
    elif drawn.kind == "slider" and drawn.proto.options:  # select_slider: formatted options
        state.string_array_value.CopyFrom(StringArray(data=[str(value)]))
    elif drawn.kind == "slider":
        state.double_array_value.CopyFrom(DoubleArray(data=[float(value)]))
    elif drawn.kind in {"button_group", "multiselect"}:
        state.string_array_value.CopyFrom(StringArray(data=[str(value)]))
    else:
        raise ProtocolError(f"setting a {drawn.kind} is not supported by this client")
    return state


class StreamlitClient:
    """One simulated browser tab on a Streamlit server (use :meth:`connect`)."""

    def __init__(self, ws, timeout: float, host: str, port: int) -> None:
        self.ws, self.timeout, self.host, self.port = ws, timeout, host, port
        self.media: set[str] = set()  # picture URLs already loaded (the browser's cache)
        self.pages: dict[str, str] = {}  # page title -> page_script_hash
        self.page = ""
        self.states: dict[str, WidgetState] = {}  # every widget value this tab has set, by id
        self._cache: dict[str, ForwardMsg] = {}

    @classmethod
    async def connect(cls, url: str, timeout: float = 120.0) -> StreamlitClient:
        """Open a session on ``url`` (http://127.0.0.1:PORT; loopback only) and run its first page."""
        parsed = urlparse(url)
        if parsed.hostname not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError(f"url must be on the loopback interface, got {url!r}.")
        ws = await websockets.connect(
            f"ws://{parsed.netloc}/_stcore/stream", subprotocols=["streamlit"], max_size=None, open_timeout=timeout
        )
        client = cls(ws, timeout, parsed.hostname, parsed.port or 80)
        await client.rerun()
        return client

    async def close(self) -> None:
        await self.ws.close()

    async def open(self, title: str) -> Run:
        """Click ``title`` in the sidebar navigation."""
        if title not in self.pages:
            raise ProtocolError(f"no page {title!r}; pages: {sorted(self.pages)}")
        self.page = self.pages[title]
        return await self.rerun()

    async def set(self, drawn: Drawn, value) -> Run:
        """Change one widget as a user would; a widget inside a fragment reruns only that fragment."""
        state = widget_state(drawn, value)
        self.states[state.id] = state
        return await self.rerun(fragment=drawn.fragment)

    async def rerun(self, fragment: str = "") -> Run:
        msg = BackMsg()
        client_state = msg.rerun_script
        client_state.page_script_hash = self.page
        client_state.fragment_id = fragment
        client_state.widget_states.widgets.extend(self.states.values())
        client_state.cached_message_hashes.extend(self._cache)
        start = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        run = await self._read_run()
        await self._fetch_media(run)
        run.seconds = time.perf_counter() - start
        return run

    async def _fetch_media(self, run: Run) -> None:
        """GET every picture URL this tab has not loaded yet, as the browser does before it shows them."""
        for image in (img for imgs in run.of("imgs") for img in imgs.imgs):
            if not image.url.startswith("/media/") or image.url in self.media:
                continue
            reader, writer = await asyncio.open_connection(self.host, self.port)
            writer.write(f"GET {image.url} HTTP/1.1\r\nHost: {self.host}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            response = await asyncio.wait_for(reader.read(), self.timeout)
            writer.close()
            if not response.startswith(b"HTTP/1.1 200"):
                raise ProtocolError(f"{image.url}: {response[:60]!r}")
            self.media.add(image.url)

    async def _read_run(self) -> Run:
        run = Run()
        while True:
            try:
                raw = await asyncio.wait_for(self.ws.recv(), self.timeout)
            except TimeoutError:
                raise ProtocolError(f"no message from the server for {self.timeout:.0f} s") from None
            msg = ForwardMsg.FromString(raw)
            if msg.WhichOneof("type") == "ref_hash":
                msg = self._cache[msg.ref_hash]
            elif msg.metadata.cacheable:
                self._cache[msg.hash] = msg
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                self._pages(msg.new_session.app_pages)
                self.page = self.page or msg.new_session.page_script_hash
            elif kind == "navigation":
                self._pages(msg.navigation.app_pages)
                self.page = msg.navigation.page_script_hash or self.page
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                run.drawn.append(Drawn(msg.delta.new_element, msg.delta.fragment_id))
            elif kind == "script_finished":
                if msg.script_finished in DONE:
                    return run
                run = Run()  # finished early for a rerun (st.rerun, a callback): the next run counts

    def _pages(self, pages) -> None:
        for page in pages:
            self.pages[page.page_name] = page.page_script_hash
