// Ledger verifier for the browser: recomputes every hash of an exported ledger (JSON lines,
// format version 2, docs/ledger.md) with Web Crypto SHA-256 and RFC 8785 canonical JSON,
// without this package or the server. Pure functions on window.sovereval; the ledger page wires
// them to a file input.
(function () {
  "use strict";
  var GENESIS = "0".repeat(64);

  // RFC 8785 (JCS): ECMAScript number and string forms, object keys sorted by UTF-16 code
  // units (what Array.prototype.sort does to strings), no white space.
  function jcs(v) {
    if (v === null || typeof v === "boolean" || typeof v === "string") return JSON.stringify(v);
    if (typeof v === "number") {
      if (!isFinite(v)) throw new Error("a number that is not finite has no canonical form");
      return JSON.stringify(v);
    }
    if (Array.isArray(v)) return "[" + v.map(jcs).join(",") + "]";
    var keys = Object.keys(v).sort();
    return "{" + keys.map(function (k) { return JSON.stringify(k) + ":" + jcs(v[k]); }).join(",") + "}";
  }

  async function sha256hex(text) {
    var buf = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    return Array.from(new Uint8Array(buf), function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function fail(n, head, seq, problem) {
    return { ok: false, count: n, head: head, firstBadSeq: seq, problem: problem };
  }

  // The same checks, in the same order and with the same messages, as ``sovereval audit
  // verify-file`` (sovereval.ledger.chain.verify) for version-2 events.
  async function verifyLedger(text, expectedHead) {
    var prev = GENESIS, expect = 1, n = 0;
    var lines = text.split("\n");
    for (var i = 0; i < lines.length; i++) {
      if (!lines[i].trim()) continue;
      var ev;
      try { ev = JSON.parse(lines[i]); } catch (e) {
        return fail(n, prev, null, "line " + (i + 1) + ": not a ledger event (" + e.message + ")");
      }
      var seq = ev.seq;
      if ((ev.v || 1) !== 2) {
        return fail(n, prev, seq, "event " + seq + ": format v" + (ev.v || 1) +
          " is checked by 'sovereval audit verify-file' only");
      }
      if (seq !== expect) {
        var what = seq > expect ? "missing or deleted event(s) before it" : "out of order or duplicated";
        return fail(n, prev, seq, "event " + seq + ": expected seq " + expect + " (" + what + ")");
      }
      if (ev.prev_hash !== prev) {
        return fail(n, prev, seq, "event " + seq + ": link to the previous event is broken");
      }
      var canonical;
      try { canonical = jcs(JSON.parse(ev.payload)); } catch (e) { canonical = null; }
      if (canonical !== ev.payload) {
        return fail(n, prev, seq, "event " + seq + ": payload is not canonical JSON (RFC 8785)");
      }
      var record = { v: 2, seq: seq, at: ev.at, actor: ev.actor, kind: ev.kind,
                     payload: ev.payload, prev_hash: prev };
      if ((await sha256hex(jcs(record))) !== ev.hash) {
        return fail(n, prev, seq, "event " + seq + ": content does not match its hash (altered)");
      }
      prev = ev.hash; expect += 1; n += 1;
    }
    if (expectedHead && prev !== expectedHead) {
      return fail(n, prev, n, "head " + prev.slice(0, 16) + "… differs from the published head " +
        expectedHead.slice(0, 16) + "… (truncated or extended)");
    }
    return { ok: true, count: n, head: prev, firstBadSeq: null, problem: "" };
  }

  window.sovereval = Object.assign(window.sovereval || {}, { jcs: jcs, verifyLedger: verifyLedger });

  document.addEventListener("DOMContentLoaded", function () {
    var input = document.getElementById("ledger-file");
    var out = document.getElementById("ledger-file-result");
    if (!input || !out) return;
    input.addEventListener("change", async function () {
      var file = input.files && input.files[0];
      if (!file) return;
      out.textContent = "Checking " + file.name + "…";
      var head = (document.getElementById("ledger-head") || {}).textContent || "";
      var r = await verifyLedger(await file.text(), head.trim() || null);
      out.dataset.ok = String(r.ok);
      out.dataset.head = r.head;
      out.dataset.count = String(r.count);
      out.className = r.ok ? "ok" : "bad";
      out.textContent = r.ok
        ? "Verified in your browser: " + r.count + " events, head " + r.head + " (the head shown above)."
        : "Does NOT verify: " + r.problem;
    });
  });
})();
