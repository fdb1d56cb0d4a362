"""Watches, as kube-apiserver's watch cache serves them: a chunked stream of JSON events
from a resourceVersion ("" or "0": from now on, no replay), selectors applied to each
event (an object entering the selection is ADDED, leaving it DELETED), BOOKMARKs when
asked for (allowWatchBookmarks) every 30 s and at the end, `timeoutSeconds` (capped by
--max-watch-seconds). Resuming from a resourceVersion older than the history kept
(after POST /_bench/compact or /_fault/relist) answers 200 with one ERROR event, 410
Expired `too old resource version: RV (OLDEST)`, and ends, as the watch cache does.
A compaction ends open watches cleanly; a `drop` fault cuts them off without the final
chunk.
"""

import json
import socket
import time

from .errors import status_body
from .resources import api_version, kind_of

BOOKMARK_SECONDS = 30


class Aborted(Exception):
    """The connection is cut without finishing the stream."""


def metadata_only(obj):
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def start_position(store, rv_text):
    """-> (log index, last resourceVersion), or (None, None) when rv_text is too old."""
    if rv_text in ("", "0"):
        return len(store.log), store.rv  # "start at the most recent": no synthetic ADDED
    try:
        rv = int(rv_text)
    except ValueError:
        rv = -1
    if rv < store.log_start:
        return None, None
    return store.events_after(rv), rv


def selected(flt, type_, obj, old):
    """The event type a watch with this selection sees, or None."""
    if type_ == "MODIFIED" and old is not None:
        now_in, was_in = flt(obj), flt(old)
        if now_in and not was_in:
            return "ADDED"
        if was_in and not now_in:
            return "DELETED"
        return type_ if now_in else None
    return type_ if flt(obj) else None


def serve(handler, res, flt, query, meta_only, started):
    store = handler.store
    timeout = float(query.get("timeoutSeconds") or 1800)
    if handler.max_watch_seconds:
        timeout = min(timeout, handler.max_watch_seconds)
    deadline = time.monotonic() + timeout
    bookmarks = query.get("allowWatchBookmarks") == "true"
    rv_text = query.get("resourceVersion") or ""
    with store.cond:
        epoch, abort_epoch = store.watch_epoch, store.abort_epoch
        pos, last_rv = start_position(store, rv_text)
        oldest = store.log_start
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.send_header("Cache-Control", "no-cache, private")
    handler.end_headers()
    handler.log_request_line("200 watch-open", started)

    def send(event):
        data = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def bookmark(rv):
        kind = "PartialObjectMetadata" if meta_only else kind_of(res)
        version = "meta.k8s.io/v1" if meta_only else api_version(res)
        send({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": version,
                                             "metadata": {"resourceVersion": str(rv)}}})

    try:
        if pos is None:
            send({"type": "ERROR", "object": status_body(410, "Expired", f"too old resource version: {rv_text} ({oldest})")})
        else:
            last_bookmark = time.monotonic()
            while True:
                with store.cond:
                    while pos >= len(store.log):
                        left = deadline - time.monotonic()
                        if left <= 0 or store.watch_epoch != epoch:
                            break
                        store.cond.wait(min(left, 5.0))
                        if bookmarks and time.monotonic() - last_bookmark > BOOKMARK_SECONDS:
                            break
                    if store.abort_epoch != abort_epoch:
                        raise Aborted()
                    batch = store.log[pos:]
                    pos = len(store.log)
                    current_rv = store.rv
                sent = 0
                for rv, r, type_, obj, old in batch:
                    last_rv = rv
                    if r != res:
                        continue
                    type_ = selected(flt, type_, obj, old)
                    if type_ is None:
                        continue
                    send({"type": type_, "object": metadata_only(obj) if meta_only else obj})
                    sent += 1
                if sent:
                    store.count(f"watch events sent ({res[2]})", sent)
                now = time.monotonic()
                if bookmarks and (now - last_bookmark > BOOKMARK_SECONDS or now >= deadline):
                    bookmark(max(last_rv, current_rv))
                    last_bookmark = now
                if now >= deadline or store.watch_epoch != epoch:
                    break
        handler.wfile.write(b"0\r\n\r\n")
        handler.log_request_line("200 watch-closed", started)
    except Aborted:
        handler.close_connection = True
        try:
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        handler.log_request_line("watch cut off", started)
    except (BrokenPipeError, ConnectionResetError, OSError):
        handler.close_connection = True
