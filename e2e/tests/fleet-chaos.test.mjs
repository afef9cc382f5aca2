// Fleet mode under failures (issue 17): 4 nodes on one NATS server, clients in personal and
// chat rooms, writers committing all along. NATS is killed and restarted; one node's NATS
// connection is cut for 3 seconds (a TCP switch); a node is killed with SIGKILL (its clients
// come back on another node and recover their sessions); then the node that publishes the
// stream to NATS is killed with SIGKILL (another one is elected and resumes from the position
// it recorded). Every client must end with exactly its events, once each, in commit order.
import assert from "node:assert/strict";
import { test } from "node:test";
import { joinChat } from "../lib/chat.mjs";
import { freePort, sleep, tokenFor } from "../lib/harness.mjs";
import { rand, startWriters } from "../lib/load.mjs";
import { addMembers, createPopulation, expectAllExactly, metricsOf, publisherIndex, startFleet, startNats } from "../lib/fleet.mjs";
import { addressedTo, connectRecording, outbox } from "../lib/recovery.mjs";
import { startSwitch } from "../lib/tcpswitch.mjs";

const NODES = 4;
const PER_NODE = 40;

test("fleet chaos: NATS restarted, a node's NATS connection cut, kill -9 of a node and of the publisher: nothing lost or repeated", { timeout: 300000 }, async () => {
  const nats = await startNats();
  const natsSwitch = await startSwitch(nats.port); // node 1 reaches NATS through it
  const fleet = await startFleet(NODES, (i) => (i === 1 ? `nats://127.0.0.1:${natsSwitch.port}` : nats.url));
  const switches = await Promise.all(fleet.nodes.map((n) => startSwitch(n.port))); // clients reach node i through switches[i]
  const clients = [];
  let writers;
  try {
    const { users, chats } = await createPopulation(fleet.pool, NODES * PER_NODE, NODES * 2);
    const pairs = [];
    for (const [c, chat] of chats.entries()) {
      for (let k = 0; k < 6; k++) pairs.push([chat, users[(c * 6 + k * 7) % users.length]]);
    }
    await addMembers(fleet.pool, pairs);
    for (const [i, user] of users.entries()) {
      const node = i % NODES;
      const c = await connectRecording(switches[node].url, tokenFor(user), { transports: i % 5 === 0 ? ["polling", "websocket"] : ["websocket"] });
      c.user = user;
      c.node = node;
      c.rooms = [];
      c.label = `client of user ${i} (node ${node})`;
      for (const [chat] of pairs.filter(([, u]) => u === user)) {
        await joinChat(c.socket, chat);
        c.rooms.push(`chat:${chat}`);
      }
      clients.push(c);
    }
    writers = startWriters(fleet.databaseURL, 6, () =>
      Math.random() < 0.6
        ? { users: Array.from({ length: rand(1, 3) }, () => users[rand(0, users.length - 1)]), rooms: [] }
        : { users: [], rooms: [`chat:${chats[rand(0, chats.length - 1)]}`] },
    );
    await sleep(1500);

    await nats.restart(1000);
    console.log("fleet chaos: NATS killed and restarted");
    await sleep(2000);

    natsSwitch.setTarget(await freePort());
    natsSwitch.cut();
    await sleep(3000);
    natsSwitch.setTarget(nats.port);
    console.log("fleet chaos: node 1's NATS connection cut for 3s");
    await sleep(1500);

    const publisher = await publisherIndex(fleet.nodes);
    assert.notEqual(publisher, -1, "no node publishes");
    const victim = [2, 3, 1].find((i) => i !== publisher);
    const survivor = [0, 1, 2, 3].find((i) => i !== publisher && i !== victim);
    switches[victim].setTarget(fleet.nodes[survivor].port);
    fleet.nodes[victim].child.kill("SIGKILL");
    await fleet.nodes[victim].exited;
    switches[victim].cut();
    console.log(`fleet chaos: node ${victim} killed (SIGKILL); its clients go to node ${survivor}`);
    await sleep(2000);

    switches[publisher].setTarget(fleet.nodes[survivor].port);
    fleet.nodes[publisher].child.kill("SIGKILL");
    await fleet.nodes[publisher].exited;
    switches[publisher].cut();
    console.log(`fleet chaos: the publisher, node ${publisher}, killed (SIGKILL)`);
    await sleep(4000);
    const stats = await writers.stop();
    writers = null;

    const alive = fleet.nodes.filter((_, i) => i !== victim && i !== publisher);
    const next = await publisherIndex(fleet.nodes);
    assert.ok(next !== -1 && next !== publisher && next !== victim, `no new publisher (${next})`);
    const events = (await outbox(fleet.pool)).filter((e) => e.event === "load");
    assert.ok(stats.committed > 100, `only ${stats.committed} transactions committed`);
    for (const c of clients) c.want = addressedTo(events, c.user, c.rooms);
    await expectAllExactly(clients, { only: (e) => e.event === "load", ms: 90000 });
    for (const c of clients.filter((x) => x.node === victim || x.node === publisher)) {
      assert.ok(c.connects.length >= 2, `${c.label} did not reconnect`);
      assert.ok(c.connects.slice(1).every((x) => x.recovered), `${c.label}: a reconnection was not a recovery`);
    }
    for (const node of alive) {
      const m = await metricsOf(node);
      // One catch-up at start (the subscriptions' first confirmation), more after the restart.
      assert.ok(m.realtimed_bus_catchups_total >= 2, `node on port ${node.port} never caught up after NATS restarted`);
    }
    const moved = clients.filter((x) => x.node === victim || x.node === publisher).length;
    console.log(`fleet chaos: ${events.length} events in ${stats.committed} transactions (${stats.failed} failed), ` +
      `${clients.length} clients, ${moved} moved and recovered, node ${next} publishes now: all exactly once in commit order`);
  } finally {
    await writers?.stop();
    for (const c of clients) c.socket.close();
    for (const s of switches) await s.close();
    await natsSwitch.close();
    await fleet.stop();
    await nats.stop();
  }
});
