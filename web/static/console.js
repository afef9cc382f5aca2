// realtimed console: connects with the official socket.io-client browser bundle (window.io,
// served from /console/vendor/) and shows what arrives. No framework, no build step.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const state = { socket: null, token: "", userId: "", demo: null, chatId: "", typingTimer: null, typing: false, others: new Map() };

  function setStatus(text, kind) {
    const el = $("status");
    el.textContent = text;
    el.className = "pill " + kind;
    el.dataset.state = text;
  }

  function setConnected(on) {
    $("connect").disabled = on;
    $("disconnect").disabled = !on;
    for (const id of ["join", "leave", "compose", "demo-task", "demo-message"]) $(id).disabled = !on;
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
    $("error").textContent = "";
    if (!token) {
      $("error").textContent = "A token is needed: pick a demo member or paste one.";
      return;
    }
    state.token = token;
    state.userId = subjectOf(token);
    const transports = $("transports").value.split(",");
    const socket = io(location.origin, { auth: { token }, transports, reconnectionAttempts: 5 });
    state.socket = socket;
    setStatus("connecting", "off");
    socket.on("connect", () => {
      setStatus("connected", "on");
      setConnected(true);
      $("sid").textContent = socket.id;
      $("user").textContent = state.userId || "(session token)";
      $("transport").textContent = socket.io.engine.transport.name;
      socket.io.engine.on("upgrade", (t) => ($("transport").textContent = t.name));
    });
    socket.on("connect_error", (err) => {
      setStatus("refused", "err");
      const code = err.data && err.data.code ? ` (${err.data.code})` : "";
      $("error").textContent = err.message + code;
    });
    socket.on("disconnect", (reason) => {
      setStatus("disconnected", "off");
      setConnected(false);
      $("error").textContent = "disconnected: " + reason;
      $("transport").textContent = "—";
    });
    socket.onAny(onEvent);
  }

  function disconnect() {
    if (state.socket) {
      state.socket.offAny();
      state.socket.close();
      state.socket = null;
    }
    setConnected(false);
    setStatus("disconnected", "off");
    state.others.clear();
    renderTyping();
  }

  function onEvent(event, ...args) {
    if (event === "typing.started" || event === "typing.stopped") onTyping(event, args[0] || {});
    const receivedAt = Date.now();
    // realtimed sends the event's stream offset as a last string argument.
    const offset = args.length > 1 && typeof args[args.length - 1] === "string" ? args.pop() : null;
    const row = addRow(event, args.length === 1 ? args[0] : args, receivedAt);
    if (offset) details(offset, receivedAt, row);
    else {
      row.querySelector(".rooms").textContent = args[0] && args[0].chatId ? "chat:" + args[0].chatId : "—";
      row.querySelector(".since").textContent = "live only";
    }
  }

  function addRow(event, payload, receivedAt) {
    $("empty").hidden = true;
    const tr = document.createElement("tr");
    tr.className = "new";
    tr.dataset.event = event;
    const cells = [
      ["time", new Date(receivedAt).toLocaleTimeString()],
      ["event", event],
      ["rooms", "…"],
      ["since", "…"],
    ];
    for (const [cls, text] of cells) {
      const td = document.createElement("td");
      td.className = cls;
      td.textContent = text;
      tr.appendChild(td);
    }
    const td = document.createElement("td");
    td.className = "payload";
    const pre = document.createElement("pre");
    pre.textContent = JSON.stringify(payload, null, 2);
    td.appendChild(pre);
    tr.appendChild(td);
    const body = document.querySelector("#events tbody");
    body.insertBefore(tr, body.firstChild);
    $("count").textContent = body.children.length;
    return tr;
  }

  // Rooms and commit time come from the outbox (only for events this token's user was sent).
  async function details(offset, receivedAt, row) {
    try {
      const r = await fetch(`/console/api/events/${encodeURIComponent(offset)}`, { headers: { Authorization: "Bearer " + state.token } });
      const d = await r.json();
      if (!r.ok) throw new Error(d.error || r.status);
      row.dataset.pos = d.pos;
      row.querySelector(".rooms").textContent = d.rooms.join(" ");
      // Commit → receipt on the server's clock: shift the browser's clock by the difference.
      const skew = Date.parse(d.serverTime) - Date.now();
      const ms = receivedAt + skew - Date.parse(d.committedAt);
      row.querySelector(".since").textContent = ms < 1 ? "<1 ms" : ms.toFixed(0) + " ms";
    } catch (err) {
      row.querySelector(".rooms").textContent = "?";
      row.querySelector(".since").textContent = "? (" + err.message + ")";
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
  $("clear").addEventListener("click", () => {
    document.querySelector("#events tbody").replaceChildren();
    $("count").textContent = "0";
    $("empty").hidden = false;
  });
  $("demo-task").addEventListener("click", () => demoWrite("/demo/task", { userId: state.userId }));
  $("demo-message").addEventListener("click", () =>
    demoWrite("/demo/message", { userId: state.userId, body: $("compose").value || "Hello from the console" }));
  loadDemo().catch((err) => ($("error").textContent = "demo: " + err.message));
})();
