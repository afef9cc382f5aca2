// realtimed console: connects with the official socket.io-client browser bundle (window.io,
// served from /console/vendor/) and shows what arrives. No framework, no build step.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  // The client's retries: a lost server is "reconnecting n/N" until the last attempt fails.
  const ATTEMPTS = 5;
  const MAX_ROWS = 500; // older events are dropped from the page
  const state = {
    socket: null, token: "", userId: "", demo: null, chatId: "", typingTimer: null, typing: false,
    others: new Map(), paused: false, held: [], seq: 0,
  };

  // The connection as the client sees it: data-state is one of disconnected, connecting,
  // connected, reconnecting, lost, refused; the text adds the attempt (reconnecting 2/5).
  function setStatus(st, text = st) {
    const el = $("status");
    el.textContent = text;
    el.dataset.state = st;
    el.className = "pill " + ({ connected: "on", connecting: "warn", reconnecting: "warn", lost: "err", refused: "err" }[st] || "off");
  }

  // kind: "error" (red), "info" (muted) or "" (nothing to say).
  function say(text, kind = "info") {
    $("message").textContent = text;
    $("message").dataset.kind = text ? kind : "";
  }

  function setConnected(on) {
    for (const id of ["join", "leave", "compose", "demo-task", "demo-message"]) $(id).disabled = !on;
  }

  function showSession(socket) {
    $("sid").textContent = socket ? socket.id : "—";
    $("transport").textContent = socket ? socket.io.engine.transport.name : "—";
  }

  // The user id a token stands for, when it is a JWT (for display; the server decides).
  function subjectOf(token) {
    try {
      const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      return claims.sub || "";
    } catch {
      return "";
    }
  }

  function connect() {
    disconnect();
    const token = $("token").value.trim();
    if (!token) {
      say("A token is needed: pick a demo member or paste one.", "error");
      return;
    }
    state.token = token;
    state.userId = subjectOf(token);
    const transports = $("transports").value.split(",");
    const socket = io(location.origin, {
      auth: { token }, transports, forceNew: true, reconnectionAttempts: ATTEMPTS, reconnectionDelay: 500, reconnectionDelayMax: 2000,
    });
    state.socket = socket;
    setStatus("connecting", "connecting…");
    say("");
    $("disconnect").disabled = false;
    socket.on("connect", () => {
      setStatus("connected");
      say("");
      setConnected(true);
      showSession(socket);
      $("user").textContent = state.userId || "(session token)";
      socket.io.engine.on("upgrade", (t) => ($("transport").textContent = t.name));
    });
    socket.on("connect_error", (err) => {
      if (socket.active) {
        // A transport failure (the server is unreachable): the client retries by itself.
        say(`server unreachable (${err.message}); retrying…`);
        return;
      }
      // The server answered and refused (a bad token): the client does not retry.
      setStatus("refused");
      const code = err.data && err.data.code ? ` (${err.data.code})` : "";
      say(err.message + code, "error");
      $("disconnect").disabled = true;
    });
    socket.io.on("reconnect_attempt", (n) => setStatus("reconnecting", `reconnecting ${n}/${ATTEMPTS}`));
    socket.io.on("reconnect_failed", () => {
      setStatus("lost");
      say(`no answer after ${ATTEMPTS} attempts; press Connect to try again`, "error");
      $("disconnect").disabled = true;
    });
    socket.on("disconnect", (reason) => {
      setConnected(false);
      showSession(null);
      state.others.clear();
      renderTyping();
      if (reason === "io client disconnect") return; // disconnect() says so
      if (reason === "io server disconnect") {
        setStatus("disconnected");
        say("disconnected by the server; it will not reconnect by itself");
        $("disconnect").disabled = true;
        return;
      }
      setStatus("reconnecting", "reconnecting…");
      say(`connection lost (${reason}); reconnecting…`);
    });
    socket.onAny(onEvent);
  }

  function disconnect() {
    if (state.socket) {
      state.socket.offAny();
      state.socket.io.off("reconnect_attempt").off("reconnect_failed");
      state.socket.close();
      state.socket = null;
    }
    setConnected(false);
    showSession(null);
    setStatus("disconnected");
    say("");
    $("disconnect").disabled = true;
    state.others.clear();
    renderTyping();
  }

  function onEvent(event, ...args) {
    if (event === "typing.started" || event === "typing.stopped") onTyping(event, args[0] || {});
    // realtimed sends the event's stream offset as a last string argument.
    const offset = args.length > 1 && typeof args[args.length - 1] === "string" ? args.pop() : null;
    const item = { event, payload: args.length === 1 ? args[0] : args, offset, receivedAt: Date.now() };
    if (state.paused) {
      state.held.push(item);
      $("pause").textContent = `Resume (${state.held.length})`;
      return;
    }
    show(item);
  }

  function show(item) {
    const row = addRow(item);
    if (item.offset) details(item, row);
    else {
      setCell(row, "rooms", item.payload && item.payload.chatId ? "chat:" + item.payload.chatId : "—");
      setCell(row, "since", "live only");
    }
  }

  function setCell(row, cls, text) {
    row.querySelector("." + cls).textContent = text;
    applyFilter(row);
    updateCount();
  }

  function addRow(item) {
    $("empty").hidden = true;
    const tr = document.createElement("tr");
    tr.className = "event new";
    tr.dataset.event = item.event;
    tr.dataset.id = String(++state.seq);
    if (item.offset) tr.dataset.offset = item.offset;
    tr.tabIndex = 0;
    tr.setAttribute("aria-expanded", "false");
    const json = JSON.stringify(item.payload, null, 2);
    const cells = [
      ["time", "received", new Date(item.receivedAt).toLocaleTimeString()],
      ["event", "event", item.event],
      ["offset", "offset", item.offset || "—"],
      ["rooms", "rooms", "…"],
      ["since", "since commit", "…"],
      ["payload", "payload", JSON.stringify(item.payload)],
    ];
    for (const [cls, label, text] of cells) {
      const td = document.createElement("td");
      td.className = cls;
      td.dataset.label = label;
      td.textContent = text;
      tr.appendChild(td);
    }
    tr.addEventListener("click", (e) => {
      if (!e.target.closest("button")) toggle(tr, json);
    });
    tr.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        toggle(tr, json);
      }
    });
    const body = document.querySelector("#events tbody");
    body.insertBefore(tr, body.firstChild);
    const rows = body.querySelectorAll("tr.event");
    for (let i = rows.length - 1; i >= MAX_ROWS; i--) removeRow(rows[i]);
    applyFilter(tr);
    updateCount();
    return tr;
  }

  function removeRow(tr) {
    const detail = tr.nextElementSibling;
    if (detail && detail.classList.contains("detail")) detail.remove();
    tr.remove();
  }

  // Expands a row: its whole payload, pretty-printed, with a copy button.
  function toggle(tr, json) {
    const open = tr.nextElementSibling && tr.nextElementSibling.classList.contains("detail");
    if (open) {
      tr.nextElementSibling.remove();
      tr.setAttribute("aria-expanded", "false");
      return;
    }
    const detail = document.createElement("tr");
    detail.className = "detail";
    const td = document.createElement("td");
    td.colSpan = 6;
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "copy";
    copy.textContent = "Copy";
    copy.addEventListener("click", () => copyText(json, copy));
    const pre = document.createElement("pre");
    pre.textContent = json;
    td.append(copy, pre);
    detail.appendChild(td);
    tr.after(detail);
    tr.setAttribute("aria-expanded", "true");
    detail.hidden = tr.hidden;
  }

  async function copyText(text, button) {
    try {
      if (navigator.clipboard && window.isSecureContext) await navigator.clipboard.writeText(text);
      else copyWithSelection(text);
      button.textContent = "Copied";
    } catch (err) {
      button.textContent = "Copy failed";
    }
    setTimeout(() => (button.textContent = "Copy"), 1500);
  }

  // Pages served over plain HTTP from another host have no navigator.clipboard.
  function copyWithSelection(text) {
    const ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "fixed";
    ta.style.opacity = "0";
    document.body.appendChild(ta);
    ta.select();
    const ok = document.execCommand("copy");
    ta.remove();
    if (!ok) throw new Error("copy refused");
  }

  function applyFilter(tr) {
    const q = $("filter").value.trim().toLowerCase();
    tr.hidden = q !== "" && !tr.textContent.toLowerCase().includes(q);
    const detail = tr.nextElementSibling;
    if (detail && detail.classList.contains("detail")) detail.hidden = tr.hidden;
  }

  function updateCount() {
    const rows = [...document.querySelectorAll("#events tr.event")];
    const shown = rows.filter((r) => !r.hidden).length;
    $("count").textContent = shown === rows.length ? String(rows.length) : `${shown}/${rows.length}`;
  }

  function togglePause() {
    state.paused = !state.paused;
    $("pause").setAttribute("aria-pressed", String(state.paused));
    if (state.paused) {
      $("pause").textContent = "Resume (0)";
      return;
    }
    $("pause").textContent = "Pause";
    const held = state.held;
    state.held = [];
    for (const item of held) show(item);
  }

  // Rooms and commit time come from the outbox (only for events this token's user was sent).
  async function details(item, row) {
    try {
      const r = await fetch(`/console/api/events/${encodeURIComponent(item.offset)}`, { headers: { Authorization: "Bearer " + state.token } });
      const d = await r.json();
      if (!r.ok) throw new Error(d.error || r.status);
      row.dataset.pos = d.pos;
      // Commit → receipt on the server's clock: shift the browser's clock by the difference.
      const skew = Date.parse(d.serverTime) - Date.now();
      const ms = item.receivedAt + skew - Date.parse(d.committedAt);
      row.querySelector(".since").textContent = ms < 1 ? "<1 ms" : ms.toFixed(0) + " ms";
      setCell(row, "rooms", d.rooms.join(" "));
    } catch (err) {
      row.querySelector(".since").textContent = "? (" + err.message + ")";
      setCell(row, "rooms", "?");
    }
  }

  function joinOrLeave(command) {
    const chatId = $("chat").value.trim();
    if (!state.socket) return;
    state.socket.timeout(5000).emit(command, { chatId }, (err, ack) => {
      $("ack").textContent = `${command} → ` + (err ? "no answer: " + err.message : JSON.stringify(ack));
      $("ack").dataset.ok = String(!err && !!ack && ack.ok);
      if (!err && ack && ack.ok) state.chatId = command === "room:join" ? chatId : "";
    });
  }

  function onCompose() {
    if (!state.socket || !state.chatId) return;
    if (!state.typing) {
      state.typing = true;
      state.socket.emit("typing:start", { chatId: state.chatId });
    }
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(() => {
      state.typing = false;
      if (state.socket) state.socket.emit("typing:stop", { chatId: state.chatId });
    }, 2000);
  }

  function onTyping(event, { chatId, userId }) {
    const key = `${chatId}/${userId}`;
    if (event === "typing.started") state.others.set(key, userId);
    else state.others.delete(key);
    renderTyping();
  }

  function nameOf(userId) {
    const m = state.demo && state.demo.members.find((x) => x.id === userId);
    return m ? m.name : userId;
  }

  function renderTyping() {
    const names = [...state.others.values()].map(nameOf);
    $("typing").textContent = names.length ? names.join(", ") + (names.length > 1 ? " are" : " is") + " typing…" : "";
  }

  async function demoWrite(path, body) {
    const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const d = await r.json();
    $("demo-result").textContent = `${path} → ${r.status} ${JSON.stringify(d)}`;
  }

  async function loadDemo() {
    const settings = await (await fetch("/console/api/settings")).json();
    if (!settings.demo) return;
    const fam = await (await fetch("/demo/family")).json();
    state.demo = fam;
    $("demo-users").hidden = false;
    $("demo-panel").hidden = false;
    $("chat").value = fam.chatId;
    for (const m of fam.members) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = `${m.name} (${m.role})`;
      b.dataset.user = m.id;
      b.addEventListener("click", () => {
        document.querySelectorAll("#members button").forEach((x) => x.classList.remove("selected"));
        b.classList.add("selected");
        $("token").value = m.token;
        connect();
      });
      $("members").appendChild(b);
    }
  }

  $("connect").addEventListener("click", connect);
  $("disconnect").addEventListener("click", disconnect);
  $("join").addEventListener("click", () => joinOrLeave("room:join"));
  $("leave").addEventListener("click", () => joinOrLeave("room:leave"));
  $("compose").addEventListener("input", onCompose);
  $("filter").addEventListener("input", () => {
    document.querySelectorAll("#events tr.event").forEach(applyFilter);
    updateCount();
  });
  $("pause").addEventListener("click", togglePause);
  $("clear").addEventListener("click", () => {
    document.querySelector("#events tbody").replaceChildren();
    state.held = [];
    if (state.paused) $("pause").textContent = "Resume (0)";
    updateCount();
    $("empty").hidden = false;
  });
  $("demo-task").addEventListener("click", () => demoWrite("/demo/task", { userId: state.userId }));
  $("demo-message").addEventListener("click", () =>
    demoWrite("/demo/message", { userId: state.userId, body: $("compose").value || "Hello from the console" }));
  loadDemo().catch((err) => say("demo: " + err.message, "error"));
})();
