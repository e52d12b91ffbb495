// An independent Node.js client (@grpc/grpc-js, protos loaded at run time by
// @grpc/proto-loader) against `recbandit serve --demo`: health; Recommend; a
// Train job followed with WatchJob and the hot swap to its version; a
// BatchRecommend job whose file agrees with Recommend; PutEvents
// reflected by the next Recommend; PutItems and a filtered Recommend; new
// items explored through a deployment; Decide, Reward, EvaluatePolicy; a
// blue/green deployment served, rewarded, switched and rolled back, a canary
// rollout started and stopped, an interleaved slate; and the error codes
// of a few bad requests.
//
// Usage: node node_client.js <host:port> <source dir> <server data dir>
// (run by server_node_client_test.sh, with NODE_PATH set to its npm cache).
'use strict';
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [target, srcDir, dataDir] = process.argv.slice(2);
const TIMEOUT_MS = 30000;
const LOAD_OPTIONS = {keepCase: true, longs: Number, enums: String, defaults: true};

function load(file, includeDirs) {
  return grpc.loadPackageDefinition(
      protoLoader.loadSync(file, {...LOAD_OPTIONS, includeDirs}));
}

function deadline() {
  return {deadline: Date.now() + TIMEOUT_MS};
}

// Calls a unary method and returns a promise of its reply.
function call(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, deadline(), (err, reply) => (err ? reject(err) : resolve(reply)));
  });
}

// Calls a unary method that must fail with `code`; prints its message.
async function expectCode(code, client, method, request) {
  let err;
  try {
    await call(client, method, request);
  } catch (e) {
    err = e;
  }
  const name = Object.keys(grpc.status).find((k) => grpc.status[k] === code);
  assert.ok(err, `expected ${name} from ${method}`);
  assert.strictEqual(err.code, code, `${method}: got code ${err.code}: ${err.details}`);
  assert.ok(err.details, 'errors carry a message');
  console.log(`${name} from ${method}: ${err.details}`);
}

// Streams a job with WatchJob until the stream ends; returns every update.
function watchJob(rec, jobId) {
  return new Promise((resolve, reject) => {
    const updates = [];
    const stream = rec.WatchJob({job_id: jobId}, deadline());
    stream.on('data', (job) => updates.push(job));
    stream.on('error', reject);
    stream.on('end', () => resolve(updates));
  });
}

async function recommend(rec, user, k) {
  return call(rec, 'Recommend', {user, k});
}

async function main() {
  const {recbandit} = load(
      ['proto/recommender.proto', 'proto/experiments.proto', 'proto/deployments.proto'],
      [srcDir]);
  const health = load('/usr/share/grpc-proto/grpc/health/v1/health.proto', []).grpc.health.v1;
  const creds = grpc.credentials.createInsecure();
  const hc = new health.Health(target, creds);
  const rec = new recbandit.Recommender(target, creds);
  const exp = new recbandit.Experiments(target, creds);
  const dep = new recbandit.Deployments(target, creds);

  const status = (await call(hc, 'Check', {})).status;
  assert.strictEqual(status, 'SERVING');
  console.log('health: SERVING');

  let reply = await recommend(rec, 'u1', 10);
  assert.strictEqual(reply.items.length, 10, JSON.stringify(reply));
  assert.strictEqual(reply.model_name, 'demo');
  assert.strictEqual(reply.fallback, false);
  const scores = reply.items.map((i) => i.score);
  assert.deepStrictEqual(scores, [...scores].sort((a, b) => b - a), 'scores descending');
  console.log(`Recommend u1: 10 items from demo v${reply.model_version}, top ${reply.items[0].item}`);

  const job = await call(rec, 'Train', {
    model_name: 'demo',
    interactions_path: 'demo/interactions.csv',
    params: {algo: 'ALS', als: {factors: 8, iterations: 3}, threads: 1},
  });
  assert.ok(job.job_id, JSON.stringify(job));
  assert.ok(['JOB_STATE_QUEUED', 'JOB_STATE_RUNNING'].includes(job.state), job.state);
  const updates = await watchJob(rec, job.job_id);
  assert.ok(updates.length > 0, 'WatchJob sends the current state at once');
  const final = updates[updates.length - 1];
  assert.strictEqual(final.state, 'JOB_STATE_SUCCEEDED', JSON.stringify(final));
  assert.strictEqual(final.model_version, 2);
  assert.strictEqual(final.iteration, 3);
  const iterations = updates.map((u) => u.iteration);
  assert.deepStrictEqual(iterations, [...iterations].sort((a, b) => a - b), `${iterations}`);
  console.log(`Train + WatchJob ${job.job_id}: ${updates.length} updates, ` +
              `${final.state}, version ${final.model_version}`);

  reply = await recommend(rec, 'u1', 10);
  assert.strictEqual(reply.model_version, 2, JSON.stringify(reply));
  assert.strictEqual(reply.items.length, 10);
  const top = reply.items[0].item;
  console.log(`Recommend after training: version 2, top ${top}`);

  const batch = await call(rec, 'BatchRecommend', {
    model_name: 'demo', output_path: 'node_top3.jsonl', users: ['u1', 'nobody'], k: 3,
  });
  assert.strictEqual(batch.kind, 'JOB_KIND_BATCH_RECOMMEND', JSON.stringify(batch));
  const batchUpdates = await watchJob(rec, batch.job_id);
  const batchDone = batchUpdates[batchUpdates.length - 1];
  assert.strictEqual(batchDone.state, 'JOB_STATE_SUCCEEDED', JSON.stringify(batchDone));
  assert.strictEqual(batchDone.users_done, 2);
  const rows = fs.readFileSync(path.join(dataDir, 'node_top3.jsonl'), 'utf8').trim().split('\n')
      .map((line) => JSON.parse(line));
  assert.deepStrictEqual(rows.map((r) => r.user), ['u1', 'nobody']);
  assert.strictEqual(rows[1].fallback, true);
  const one = await recommend(rec, 'u1', 3);
  assert.deepStrictEqual(rows[0].items.map((i) => i.item), one.items.map((i) => i.item));
  console.log(`BatchRecommend ${batch.job_id}: ${batchDone.users_done} users, u1's list ` +
              'equals Recommend');

  const put = await call(rec, 'PutEvents', {events: [{user: 'u1', item: top, event_type: 'purchase'}]});
  assert.strictEqual(put.accepted, 1, JSON.stringify(put));
  reply = await recommend(rec, 'u1', 10);
  const items = reply.items.map((i) => i.item);
  assert.ok(!items.includes(top), `${top} still recommended: ${items}`);
  console.log(`PutEvents u1/${top}: excluded from the next Recommend`);
  // An event type that breaks the name rule is refused, naming the field.
  await expectCode(grpc.status.INVALID_ARGUMENT, rec, 'PutEvents',
                   {events: [{user: 'u1', item: top, event_type: 'a b'}]});

  const catalogItems = [];
  for (let n = 1; n <= 100; ++n) {
    catalogItems.push({item: `i${n}`, categories: [n % 3 === 0 ? 'fizz' : 'plain'],
                       tags: n <= 10 ? ['new'] : [], numbers: {price: n}});
  }
  const stored = await call(rec, 'PutItems', {items: catalogItems});
  assert.strictEqual(stored.accepted, 100, JSON.stringify(stored));
  const filtered = await call(rec, 'Recommend', {
    user: 'u2', k: 5,
    filter: {expression: 'EXCLUDE ItemID WHERE Items.category IN $c | ' +
                         'INCLUDE ItemID WHERE Items.price <= 60',
             parameters: {c: {strings: ['fizz']}}}});
  assert.strictEqual(filtered.items.length, 5, JSON.stringify(filtered));
  for (const s of filtered.items) {
    const n = Number(s.item.slice(1));
    assert.ok(n % 3 !== 0 && n <= 60, `${s.item} passes the filter`);
  }
  console.log(`PutItems 100, filtered Recommend: ${filtered.items.map((i) => i.item)}`);

  // Stored features: the user's age and each item's price read from the catalog.
  await call(rec, 'PutUsers', {users: [{user: 'u1', numbers: {age: 41}}]});
  await call(exp, 'CreateExperiment', {config: {
    name: 'stored_node', hash_bits: 4,
    variants: [{name: 'lin', policy_spec: 'linucb:alpha=1,model=shared', traffic_weight: 1}]}});
  const sd = await call(exp, 'Decide', {
    experiment: 'stored_node', unit_id: 'u1', stored_features: ['user.age', 'item.price'],
    actions: [{id: 'i1'}, {id: 'i2'}]});
  assert.ok(['i1', 'i2'].includes(sd.chosen_action), JSON.stringify(sd));
  assert.strictEqual(sd.pmf.length, 2);
  console.log(`Decide with stored user.age, item.price: ${sd.chosen_action}`);

  const actions = ['grid', 'list', 'carousel'].map((id) => ({id}));
  const d = await call(exp, 'Decide', {experiment: 'demo_layout', unit_id: 'u1', actions});
  assert.ok(d.event_id, JSON.stringify(d));
  assert.strictEqual(d.chosen_action, actions[d.chosen_index].id);
  assert.strictEqual(d.pmf.length, 3);
  assert.ok(Math.abs(d.pmf.reduce((a, b) => a + b, 0) - 1) < 1e-9, `pmf ${d.pmf}`);
  assert.strictEqual(d.propensity, d.pmf[d.chosen_index]);
  console.log(`Decide demo_layout: ${d.chosen_action} p=${d.propensity.toFixed(3)} ` +
              `(${d.variant}), event ${d.event_id}`);
  const r = await call(exp, 'Reward', {experiment: 'demo_layout', event_id: d.event_id, value: 1});
  assert.strictEqual(r.learned, true, JSON.stringify(r));
  console.log(`Reward 1: learned, aggregated ${r.aggregated}`);

  const ope = await call(exp, 'EvaluatePolicy',
                         {experiment: 'demo_layout', target: 'uniform', estimators: ['ips', 'snips']});
  assert.ok(ope.n >= 1, JSON.stringify(ope));
  assert.deepStrictEqual(ope.estimates.map((e) => e.estimator), ['ips', 'snips']);
  console.log(`EvaluatePolicy uniform: n=${ope.n}, ` +
              ope.estimates.map((e) => `${e.estimator}=${e.value.toFixed(3)}`).join(', '));

  // A blue/green deployment of versions 1 and 2, all traffic on green.
  const variants = (blue, green) => [
    {name: 'blue', traffic_weight: blue, pipeline: {model: 'demo@1'}},
    {name: 'green', traffic_weight: green, pipeline: {model: 'demo@2'}},
  ];
  const created = await call(dep, 'CreateDeployment',
                             {deployment: {name: 'home', variants: variants(0, 1)}});
  assert.strictEqual(created.revision, 1, JSON.stringify(created));
  const served = await call(rec, 'Recommend', {deployment: 'home', user: 'u2', k: 4});
  assert.strictEqual(served.variant, 'green', JSON.stringify(served));
  assert.strictEqual(served.model_version, 2);
  assert.ok(served.event_id && served.items.every((i) => i.propensity === 1), 'logged slate');
  const click = await call(dep, 'RewardSlate', {deployment: 'home', event_id: served.event_id,
                                                item: served.items[1].item, value: 1});
  assert.strictEqual(click.position, 2, JSON.stringify(click));
  const rolled = await call(dep, 'UpdateDeployment', {
    deployment: {name: 'home', variants: variants(1, 0)}, expected_revision: 1});
  assert.strictEqual(rolled.revision, 2);
  const back = await call(rec, 'Recommend', {deployment: 'home', user: 'u2', k: 4});
  assert.strictEqual(back.variant, 'blue', JSON.stringify(back));
  assert.strictEqual(back.model_version, 1);
  const changes = await call(dep, 'ListDeploymentChanges', {name: 'home'});
  assert.deepStrictEqual(changes.changes.map((c) => c.kind), ['CREATED', 'UPDATED']);
  console.log(`Deployment home: green v2 served, click at position ${click.position}, ` +
              `rolled back to blue v1 (revision ${rolled.revision})`);
  await expectCode(grpc.status.FAILED_PRECONDITION, dep, 'UpdateDeployment',
                   {deployment: {name: 'home', variants: variants(0, 1)}, expected_revision: 1});
  await expectCode(grpc.status.INVALID_ARGUMENT, dep, 'CreateDeployment',
                   {deployment: {name: 'zero', variants: variants(0, 0)}});
  await expectCode(grpc.status.NOT_FOUND, rec, 'Recommend', {deployment: 'nope', user: 'u1'});
  // New-item exploration: three catalog items the model has no vector for;
  // at share 1 they lead the slate, each first with propensity 1/3.
  await call(rec, 'PutItems', {items: ['novel1', 'novel2', 'novel3'].map(
      (item) => ({item, categories: ['plain']}))});
  await call(dep, 'CreateDeployment', {deployment: {name: 'fresh', variants: [
    {name: 'v', traffic_weight: 1, pipeline: {model: 'demo@1', new_items: {share: 1}}}]}});
  const fresh = await call(rec, 'Recommend', {deployment: 'fresh', user: 'u2', k: 4});
  assert.deepStrictEqual(fresh.items.map((i) => i.new_item), [true, true, true, false],
                         JSON.stringify(fresh));
  assert.ok(Math.abs(fresh.items[0].propensity - 1 / 3) < 1e-12, JSON.stringify(fresh));
  assert.deepStrictEqual(fresh.items.slice(0, 3).map((i) => i.item).sort(),
                         ['novel1', 'novel2', 'novel3']);
  await expectCode(grpc.status.INVALID_ARGUMENT, dep, 'CreateDeployment', {deployment: {
    name: 'fresh2', variants: [
      {name: 'v', traffic_weight: 1, pipeline: {model: 'demo@1', new_items: {share: -1}}}]}});
  console.log(`New items at share 1: ${fresh.items.map((i) => i.item)}`);
  // The named blue/green steps, and a canary rollout's plan and status.
  const green = await call(dep, 'SwitchDeployment', {name: 'home', variant: 'green'});
  assert.strictEqual(green.revision, 3);
  assert.deepStrictEqual(green.rollback_weights, {blue: 1, green: 0});
  assert.strictEqual((await call(rec, 'Recommend', {deployment: 'home', user: 'u2', k: 4})).variant,
                     'green');
  const undone = await call(dep, 'RollbackDeployment', {name: 'home'});
  assert.deepStrictEqual(undone.variants.map((v) => v.traffic_weight), [1, 0]);
  await expectCode(grpc.status.FAILED_PRECONDITION, dep, 'RollbackDeployment', {name: 'home'});
  await expectCode(grpc.status.INVALID_ARGUMENT, dep, 'SwitchDeployment',
                   {name: 'home', variant: 'purple'});
  const canary = await call(dep, 'CreateDeployment', {deployment: {
    name: 'canary', variants: variants(1, 0),
    rollout: {baseline: 'blue', canary: 'green', steps: [{canary_share: 0.25, min_events: 1e6}]}}});
  assert.strictEqual(canary.rollout_status.phase, 'IN_PROGRESS', JSON.stringify(canary));
  assert.deepStrictEqual(canary.variants.map((v) => v.traffic_weight), [0.75, 0.25]);
  await expectCode(grpc.status.INVALID_ARGUMENT, dep, 'CreateDeployment', {deployment: {
    name: 'canary2', variants: variants(1, 0),
    rollout: {baseline: 'blue', canary: 'blue', steps: [{canary_share: 0.25}]}}});
  const stopped = await call(dep, 'RollbackDeployment', {name: 'canary'});
  assert.strictEqual(stopped.rollout_status.phase, 'ROLLED_BACK', JSON.stringify(stopped));
  // Interleaving: one merged slate, counted in the deployment's status.
  await call(dep, 'CreateDeployment',
             {deployment: {name: 'duel', mode: 'INTERLEAVED', variants: variants(1, 1)}});
  const merged = await call(rec, 'Recommend', {deployment: 'duel', user: 'u3', k: 4});
  assert.strictEqual(merged.variant, 'interleaved', JSON.stringify(merged));
  assert.ok(merged.items.every((i) => i.propensity === 0.5 || i.propensity === 1));
  const duel = await call(dep, 'GetDeployment', {name: 'duel'});
  assert.strictEqual(duel.interleaving.impressions, 1, JSON.stringify(duel.interleaving));
  await expectCode(grpc.status.INVALID_ARGUMENT, exp, 'EvaluatePolicy',
                   {deployment: 'duel', target: 'uniform'});

  await expectCode(grpc.status.INVALID_ARGUMENT, rec, 'Recommend', {user: 'u1', k: 5000});
  await expectCode(grpc.status.NOT_FOUND, exp, 'Reward',
                   {experiment: 'demo_layout', event_id: 'never-decided', value: 1});
  await expectCode(grpc.status.NOT_FOUND, exp, 'Decide',
                   {experiment: 'no-such-experiment', actions: [{id: 'a'}]});

  for (const c of [hc, rec, exp, dep]) c.close();
  console.log('ok');
}

main().catch((err) => {
  console.error(`FAIL: ${err.stack || err}`);
  process.exit(1);
});
