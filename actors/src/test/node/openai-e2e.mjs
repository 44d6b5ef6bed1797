// The official OpenAI client (openai-node) against a ppsd server, end to end: completions and
// chat, whole and streamed, the model list, and the errors the client must recognise. Prints one
// JSON object with what it saw; OpenAiClientTest judges it. Exits non-zero, with the error on
// stderr, when something fails that should not have.
//
// Usage: node openai-e2e.mjs <base URL ending in /v1> <API key> <model name>
import OpenAI from 'openai';
import { VERSION } from 'openai/version';

const [baseURL, apiKey, model] = process.argv.slice(2);
if (!baseURL || !apiKey || !model) {
  console.error('usage: node openai-e2e.mjs <base URL …/v1> <API key> <model>');
  process.exit(2);
}

// No retries: a 429 or 5xx must show up as what it is, not as a slower success.
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });
const prompt = 'The jury said that';
const messages = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Hello there' },
];
// ignore_eos is a vLLM extra, not in the client's types; the client sends unknown keys in the body as they are.
const greedy = { temperature: 0, ignore_eos: true };

/** What the client raised for a request that must fail: its class and the server's status and error code. */
async function errorOf(request) {
  try {
    await request();
    return null;
  } catch (e) {
    if (!(e instanceof OpenAI.APIError)) throw e;
    return {
      class: e.constructor.name,
      status: e.status ?? null,
      code: e.code ?? null,
      type: e.type ?? null,
      authentication: e instanceof OpenAI.AuthenticationError,
      notFound: e instanceof OpenAI.NotFoundError,
    };
  }
}

async function completionWhole() {
  const c = await client.completions.create({ model, prompt, max_tokens: 12, ...greedy });
  return { id: c.id, object: c.object, model: c.model, text: c.choices[0].text, finishReason: c.choices[0].finish_reason, usage: c.usage };
}

async function completionStreamed() {
  const stream = await client.completions.create({
    model, prompt, max_tokens: 12, ...greedy, stream: true, stream_options: { include_usage: true },
  });
  let text = '', finishReason = null, usage = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      text += choice.text;
      if (choice.finish_reason) finishReason = choice.finish_reason;
    }
  }
  return { text, finishReason, usage, chunks };
}

async function chatWhole() {
  const c = await client.chat.completions.create({ model, messages, max_completion_tokens: 10, ...greedy });
  const choice = c.choices[0];
  return { object: c.object, role: choice.message.role, content: choice.message.content, finishReason: choice.finish_reason, usage: c.usage };
}

async function chatStreamed() {
  const stream = await client.chat.completions.create({ model, messages, max_completion_tokens: 10, ...greedy, stream: true });
  let content = '', role = null, finishReason = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    for (const choice of chunk.choices) {
      if (choice.delta.role) role = choice.delta.role;
      if (choice.delta.content) content += choice.delta.content;
      if (choice.finish_reason) finishReason = choice.finish_reason;
    }
  }
  return { content, role, finishReason, chunks };
}

async function modelIds() {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  return ids;
}

/** A long stream aborted by the caller after its first text: the client stops reading and drops the connection. */
async function abortedStream() {
  const controller = new AbortController();
  const stream = await client.completions.create(
    { model, prompt, max_tokens: 100, ...greedy, stream: true }, { signal: controller.signal });
  let chunks = 0, finishReason = null, raised = null;
  try {
    for await (const chunk of stream) {
      chunks++;
      if (chunk.choices[0]?.finish_reason) finishReason = chunk.choices[0].finish_reason;
      if (chunks === 2) controller.abort();
    }
  } catch (e) {
    // Depending on where the abort lands, the iteration ends quietly or with the client's abort error.
    if (!(e instanceof OpenAI.APIUserAbortError) && e?.name !== 'AbortError') throw e;
    raised = e.constructor.name;
  }
  return { chunks, finishReason, raised };
}

try {
  const result = {
    client: { name: 'openai', version: VERSION, node: process.versions.node },
    completion: await completionWhole(),
    completionStream: await completionStreamed(),
    chat: await chatWhole(),
    chatStream: await chatStreamed(),
    models: await modelIds(),
    wrongKey: await errorOf(() => new OpenAI({ baseURL, apiKey: 'not-' + apiKey, maxRetries: 0 }).models.list()),
    wrongKeyCompletion: await errorOf(() =>
      new OpenAI({ baseURL, apiKey: 'not-' + apiKey, maxRetries: 0 }).completions.create({ model, prompt, max_tokens: 2 })),
    unknownModel: await errorOf(() => client.completions.create({ model: 'no-such-model', prompt, max_tokens: 2 })),
    aborted: await abortedStream(),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
} catch (e) {
  console.error('openai-e2e failed:', e);
  process.exit(1);
}
