package io.ppsd.actors.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ppsd.actors.client.PpsdClient;
import io.ppsd.actors.metrics.ServingMetrics;
import io.ppsd.actors.protocol.FailureCode;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.protocol.GenerationEvent;
import io.ppsd.actors.stage.PipelineDefinition;
import io.ppsd.actors.stage.PipelineRegistry;
import io.ppsd.runtime.decode.StopReason;
import java.security.MessageDigest;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.AttributeKey;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.RejectionHandler;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.QueueOfferResult;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;

/**
 * The OpenAI-compatible HTTP API in front of the gateway — a front end, not a second engine:
 * {@code POST /v1/completions} and {@code /v1/chat/completions} (with Server-Sent Events when
 * {@code stream} is true), {@code GET /v1/models}, {@code /health} and {@code /metrics}. Every
 * request becomes one {@code Generate} to the node's gateway through {@link PpsdClient}; the
 * gateway's coded failures become OpenAI-style error objects with their HTTP status (429 with
 * {@code Retry-After} when overloaded). Every endpoint but {@code /health} needs an API key when
 * keys are configured. A client that disconnects mid-stream cancels its request, which frees its
 * caches on every stage.
 *
 * <p>Each response carries the speculation figures in an extra object {@code ppsd} (α, drafts
 * verified and accepted, tokens per step, rebuilds), which standard clients ignore.
 */
public final class OpenAiServer extends AllDirectives {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Events a stream holds for a client that reads slower than tokens come. */
    private static final int MAX_BUFFERED_EVENTS = 1 << 16;
    /** Seconds a refused client is told to wait before retrying. */
    private static final String RETRY_AFTER_SECONDS = "1";

    private final ActorSystem<?> system;
    private final HttpSettings settings;
    private final PipelineRegistry pipelines;
    private final PpsdClient client;
    private final Readiness readiness;
    private final ServingMetrics metrics;
    private final Map<String, Optional<ChatTemplate>> templates = new ConcurrentHashMap<>();
    private final byte[][] keys;

    private OpenAiServer(ActorSystem<?> system, HttpSettings settings, PipelineRegistry pipelines) {
        this.system = system;
        this.settings = settings;
        this.pipelines = pipelines;
        this.client = new PpsdClient(system);
        this.metrics = ServingMetrics.get(system);
        this.readiness = new Readiness(system, settings.servedModels().values().stream().distinct().map(pipelines::get).toList());
        this.keys = settings.apiKeys().stream().map(k -> k.getBytes(StandardCharsets.UTF_8)).toArray(byte[][]::new);
    }

    /** The connection a request came on (see {@link ClientConnection}). */
    private static final AttributeKey<ClientConnection> CONNECTION = AttributeKey.create("ppsd-connection", ClientConnection.class);

    /** Binds the API on {@code settings.host():settings.port()} (port 0: any free port). */
    public static CompletionStage<ServerBinding> start(ActorSystem<?> system, HttpSettings settings, PipelineRegistry pipelines) {
        var server = new OpenAiServer(system, settings, pipelines);
        server.readiness.start();
        var materializer = Materializer.matFromSystem(system);
        var routeFlow = server.routes().flow(system);
        return Http.get(system).newServerAt(settings.host(), settings.port()).connectionSource()
                .to(Sink.foreach(connection -> {
                    var client = new ClientConnection();
                    // The request side ends when the client closes its connection: then cancel what still runs on it.
                    connection.handleWith(Flow.<HttpRequest>create().map(r -> r.addAttribute(CONNECTION, client))
                            .watchTermination((mat, done) -> {
                                done.whenComplete((ok, failure) -> client.closed());
                                return mat;
                            }).via(routeFlow), materializer);
                }))
                .run(materializer);
    }

    Route routes() {
        RejectionHandler rejections = RejectionHandler.defaultHandler().mapRejectionResponse(response -> {
            if (response.entity().getContentType().equals(ContentTypes.APPLICATION_JSON)) return response;
            String text = response.entity() instanceof org.apache.pekko.http.javadsl.model.HttpEntity.Strict s ? s.getData().utf8String() : "bad request";
            int status = response.status().intValue();
            return error(new ApiError(status, status == 404 ? "invalid_request_error" : "invalid_request_error",
                    status == 413 ? "body_too_large" : "bad_request", text));
        });
        return handleRejections(rejections, () -> concat(
                path("health", () -> get(this::health)),
                authorized(() -> concat(
                        pathPrefix("v1", () -> concat(
                                path("completions", () -> post(() -> body(json -> completion(json, false)))),
                                path(PathMatchers.segment("chat").slash("completions"), () -> post(() -> body(json -> completion(json, true)))),
                                path("models", () -> get(this::models)))),
                        path("metrics", () -> get(() -> complete(HttpResponse.create().withEntity(
                                ContentTypes.create(MediaTypes.TEXT_PLAIN, org.apache.pekko.http.javadsl.model.HttpCharsets.UTF_8), metrics.scrape())))),
                        extractUnmatchedPath(p -> complete(error(ApiError.notFound("not_found", "no such endpoint: " + p))))))));
    }

    /** Lets a request through when no keys are configured or it shows one of them. */
    private Route authorized(Supplier<Route> inner) {
        if (keys.length == 0) return inner.get();
        return optionalHeaderValueByName("Authorization", header -> {
            String h = header.orElse("");
            if (h.regionMatches(true, 0, "Bearer ", 0, 7)) {
                byte[] given = h.substring(7).trim().getBytes(StandardCharsets.UTF_8);
                for (byte[] k : keys) if (MessageDigest.isEqual(k, given)) return inner.get();
            }
            return complete(error(ApiError.unauthorized()));
        });
    }

    /** The body as JSON, within the size limit; malformed JSON is a 400. */
    private Route body(java.util.function.Function<JsonNode, Route> inner) {
        return extractRequestEntity(entity -> {
            var length = entity.getContentLengthOption();
            if (length.isPresent() && length.getAsLong() > settings.maxBodyBytes()) {
                return complete(error(new ApiError(413, "invalid_request_error", "body_too_large",
                        "the request body of " + length.getAsLong() + " bytes exceeds the limit of " + settings.maxBodyBytes())));
            }
            return parsedBody(inner);
        });
    }

    private Route parsedBody(java.util.function.Function<JsonNode, Route> inner) {
        return withSizeLimit(settings.maxBodyBytes(), () -> entity(Unmarshaller.entityToString(), text -> {
            JsonNode json;
            try {
                json = JSON.readTree(text);
            } catch (Exception e) {
                return complete(error(ApiError.badRequest("the request body is not valid JSON: " + e.getMessage())));
            }
            return inner.apply(json);
        }));
    }

    private Route health() {
        var state = readiness.state();
        ObjectNode body = JSON.createObjectNode().put("status", state.ready() ? "ok" : "starting");
        state.stages().forEach((stage, why) -> body.with("stages").put(stage, why));
        return complete(HttpResponse.create().withStatus(state.ready() ? 200 : 503)
                .withEntity(ContentTypes.APPLICATION_JSON, body.toString()));
    }

    private Route models() {
        ObjectNode root = JSON.createObjectNode().put("object", "list");
        ArrayNode data = root.putArray("data");
        long created = System.currentTimeMillis() / 1000;
        settings.servedModels().forEach((name, pipeline) -> {
            var def = pipelines.get(pipeline);
            data.addObject().put("id", name).put("object", "model").put("created", created).put("owned_by", "ppsd")
                    .put("max_model_len", def.config().maxPositions()).put("root", def.modelDir().toString())
                    .put("ppsd_pipeline", def.plan().describe());
        });
        return complete(HttpResponse.create().withEntity(ContentTypes.APPLICATION_JSON, root.toString()));
    }

    private Route completion(JsonNode json, boolean chat) {
        CompletionRequest req;
        String modelName;
        PipelineDefinition pipeline;
        String prompt;
        try {
            req = CompletionRequest.parse(json, chat);
            modelName = req.model() == null ? settings.servedModels().keySet().iterator().next() : req.model();
            String pipelineName = settings.servedModels().get(modelName);
            if (pipelineName == null) {
                return complete(error(ApiError.notFound("model_not_found", "the model '" + modelName + "' is not served here (served: "
                        + settings.servedModels().keySet() + ")")));
            }
            pipeline = pipelines.get(pipelineName);
            prompt = chat ? chatPrompt(pipeline, req) : req.prompt();
        } catch (IllegalArgumentException e) {
            return complete(error(ApiError.badRequest(e.getMessage())));
        }
        if (!readiness.state().ready()) return complete(error(ApiError.notReady("the pipeline is still starting (see /health)")));
        int maxTokens = req.maxTokens() != null ? req.maxTokens() : pipeline.config().maxPositions();
        var full = GenerateParams.builder(maxTokens).sampling(req.temperature(), req.seed()).topK(req.topK()).topP(req.topP())
                .repetitionPenalty(req.repetitionPenalty()).stopStrings(req.stop()).stopTokenIds(req.stopTokenIds())
                .ignoreEos(req.ignoreEos()).pipeline(pipeline.name()).build();
        var reply = new Reply(chat, modelName, req);
        return attribute(CONNECTION, connection -> {
            if (req.stream()) return stream(prompt, req.promptTokenIds(), full, reply, pipeline, connection);
            var request = client.start(prompt, req.promptTokenIds(), full, e -> {});
            // A client that hangs up before its answer is complete frees the pipeline too.
            Runnable cancel = request::cancel;
            connection.onClose(cancel);
            CompletionStage<HttpResponse> response = request.result().handle((done, failure) -> {
                connection.forget(cancel);
                if (failure != null) return error(failureOf(failure));
                return HttpResponse.create().withEntity(ContentTypes.APPLICATION_JSON, reply.whole(done).toString());
            });
            return completeWithFuture(response);
        });
    }

    private String chatPrompt(PipelineDefinition pipeline, CompletionRequest req) {
        Optional<ChatTemplate> template = templates.computeIfAbsent(pipeline.name(), n -> ChatTemplate.of(pipeline.modelDir()));
        if (template.isEmpty()) {
            throw new IllegalArgumentException("the model of pipeline '" + pipeline.name() + "' has no chat template (tokenizer_config.json "
                    + "'chat_template'); use /v1/completions");
        }
        return template.get().render(req.messages(), true);
    }

    /**
     * A streamed answer. The HTTP status is decided by the first event: a request refused before
     * its first token gets its error status (429, 400, …); once tokens flow, the response is a
     * 200 event stream and a later failure is sent as an error event.
     */
    private Route stream(String prompt, int[] promptIds, GenerateParams params, Reply reply, PipelineDefinition pipeline,
                         ClientConnection connection) {
        var first = new CompletableFuture<GenerationEvent>();
        // Room for every event of the answer, up to a bound: a client that lets 64k events pile up is dropped.
        int buffer = Math.min(Math.min(params.maxTokens(), pipeline.config().maxPositions()) + 8, MAX_BUFFERED_EVENTS);
        var pair = Source.<ByteString>queue(buffer).preMaterialize(Materializer.matFromSystem(system));
        BoundedSourceQueue<ByteString> queue = pair.first();
        var filter = new StopStringFilter(params.stopStrings());
        var streamed = new StringBuilder();
        var request = client.start(prompt, promptIds, params, event -> {
            if (!first.isDone()) {
                first.complete(event);
                if (event instanceof GenerationEvent.Failed) return;
                queue.offer(sse(reply.roleChunk()));
            }
            switch (event) {
                case GenerationEvent.Token t -> {
                    streamed.append(t.text());
                    String text = filter.accept(t.text());
                    if (!text.isEmpty() && queue.offer(sse(reply.textChunk(text))) == QueueOfferResult.dropped()) {
                        // The client lets events pile up: end its stream (which cancels the request).
                        queue.fail(new IllegalStateException("the client reads slower than tokens are generated"));
                    }
                }
                case GenerationEvent.Completed c -> {
                    // The end of the text the tokens did not carry yet (a partial character flushed by the detokenizer).
                    String tail = c.text().startsWith(streamed.toString()) ? c.text().substring(streamed.length()) : "";
                    String rest = filter.accept(tail) + filter.flush();
                    if (!rest.isEmpty()) queue.offer(sse(reply.textChunk(rest)));
                    queue.offer(sse(reply.finalChunk(c)));
                    if (reply.request().includeUsage()) queue.offer(sse(reply.usageChunk(c)));
                    queue.offer(ByteString.fromString("data: [DONE]\n\n"));
                    queue.complete();
                }
                case GenerationEvent.Failed f -> {
                    ApiError e = ApiError.of(f.code(), f.reason());
                    queue.offer(sse(errorBody(e)));
                    queue.complete();
                }
            }
        });
        // The client went away: a request still running is cancelled at once, which frees its caches on every stage.
        Runnable cancel = request::cancel;
        connection.onClose(cancel);
        request.result().whenComplete((done, failure) -> connection.forget(cancel));
        Source<ByteString, NotUsed> body = pair.second().watchTermination((mat, done) -> {
            done.whenComplete((ok, failure) -> request.cancel());
            return mat;
        });
        CompletionStage<HttpResponse> response = first.thenApply(event -> {
            if (event instanceof GenerationEvent.Failed f) return error(ApiError.of(f.code(), f.reason()));
            return HttpResponse.create().withEntity(HttpEntities.create(MediaTypes.TEXT_EVENT_STREAM.toContentType(), body))
                    .addHeader(RawHeader.create("Cache-Control", "no-cache"));
        });
        // Failures without a Failed event (no gateway, the gateway lost, the client's own deadline).
        request.result().exceptionally(failure -> {
            var failed = failedOf(request.requestId(), failure);
            if (!first.complete(failed)) {
                queue.offer(sse(errorBody(ApiError.of(failed.code(), failed.reason()))));
                queue.complete();
            }
            return null;
        });
        return completeWithFuture(response);
    }

    private static ByteString sse(Object chunk) {
        return ByteString.fromString("data: " + chunk + "\n\n");
    }

    private static ApiError failureOf(Throwable failure) {
        var failed = failedOf("", failure);
        return ApiError.of(failed.code(), failed.reason());
    }

    /** A client-side failure of a request as the gateway's coded failure (INTERNAL when it is not one). */
    private static GenerationEvent.Failed failedOf(String requestId, Throwable failure) {
        Throwable t = failure instanceof java.util.concurrent.CompletionException && failure.getCause() != null ? failure.getCause() : failure;
        if (t instanceof PpsdClient.GenerationFailedException g) return new GenerationEvent.Failed(requestId, g.code(), g.reason());
        return new GenerationEvent.Failed(requestId, FailureCode.INTERNAL, String.valueOf(t.getMessage()));
    }

    static HttpResponse error(ApiError e) {
        var response = HttpResponse.create().withStatus(StatusCodes.lookup(e.status()).orElseGet(() -> StatusCodes.custom(e.status(), "Client Closed Request", "", false, true)))
                .withEntity(ContentTypes.APPLICATION_JSON, errorBody(e).toString());
        if (e.status() == 429) response = response.addHeader(RawHeader.create("Retry-After", RETRY_AFTER_SECONDS));
        return response;
    }

    static ObjectNode errorBody(ApiError e) {
        ObjectNode root = JSON.createObjectNode();
        root.putObject("error").put("message", e.message()).put("type", e.type()).putNull("param").put("code", e.code());
        return root;
    }

    private static final com.fasterxml.jackson.core.io.JsonStringEncoder JSON_STRINGS = com.fasterxml.jackson.core.io.JsonStringEncoder.getInstance();

    /** The JSON of one request's answer: whole, or as stream chunks; one id and creation time for all of them. */
    private static final class Reply {
        private final boolean chat;
        private final String model;
        private final CompletionRequest request;
        private final String id;
        private final long created;
        private String textChunkPrefix;

        Reply(boolean chat, String model, CompletionRequest request) {
            this.chat = chat;
            this.model = model;
            this.request = request;
            this.id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
            this.created = System.currentTimeMillis() / 1000;
        }

        CompletionRequest request() {
            return request;
        }

        ObjectNode head(boolean chunk) {
            String object = chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
            return JSON.createObjectNode().put("id", id).put("object", object).put("created", created).put("model", model);
        }

        ObjectNode whole(GenerationEvent.Completed done) {
            ObjectNode root = head(false);
            ObjectNode choice = root.putArray("choices").addObject().put("index", 0);
            String text = StopStringFilter.trim(done.text(), request.stop());
            if (chat) choice.putObject("message").put("role", "assistant").put("content", text);
            else choice.put("text", text);
            choice.putNull("logprobs");
            choice.put("finish_reason", finishReason(done.stopReason()));
            usage(root, done);
            speculation(root, done);
            return root;
        }

        /** The first chunk of a chat stream names the role (completions have none: an empty text). */
        ObjectNode roleChunk() {
            ObjectNode root = head(true);
            ObjectNode choice = root.putArray("choices").addObject().put("index", 0);
            if (chat) choice.putObject("delta").put("role", "assistant").put("content", "");
            else choice.put("text", "");
            choice.putNull("logprobs").putNull("finish_reason");
            return root;
        }

        /**
         * A chunk carrying text: written as a string around a prefix built once per request,
         * because it is sent for every token (the other chunks are built as JSON trees).
         */
        String textChunk(String text) {
            if (textChunkPrefix == null) {
                String head = head(true).toString();
                textChunkPrefix = head.substring(0, head.length() - 1) + ",\"choices\":[{\"index\":0," + (chat ? "\"delta\":{\"content\":" : "\"text\":");
            }
            StringBuilder b = new StringBuilder(textChunkPrefix.length() + text.length() + 64).append(textChunkPrefix);
            JSON_STRINGS.quoteAsString(text, b.append('"'));
            return b.append('"').append(chat ? "}" : "").append(",\"logprobs\":null,\"finish_reason\":null}]}").toString();
        }

        ObjectNode finalChunk(GenerationEvent.Completed done) {
            ObjectNode root = head(true);
            ObjectNode choice = root.putArray("choices").addObject().put("index", 0);
            if (chat) choice.putObject("delta");
            else choice.put("text", "");
            choice.putNull("logprobs").put("finish_reason", finishReason(done.stopReason()));
            speculation(root, done);
            return root;
        }

        ObjectNode usageChunk(GenerationEvent.Completed done) {
            ObjectNode root = head(true);
            root.putArray("choices");
            usage(root, done);
            return root;
        }

        private static void usage(ObjectNode root, GenerationEvent.Completed done) {
            int prompt = done.promptTokenIds().length, completion = done.tokenIds().length;
            root.putObject("usage").put("prompt_tokens", prompt).put("completion_tokens", completion).put("total_tokens", prompt + completion);
        }

        private static void speculation(ObjectNode root, GenerationEvent.Completed done) {
            var s = done.speculation();
            ObjectNode p = root.putObject("ppsd");
            p.put("drafts_verified", s.draftsVerified()).put("drafts_accepted", s.draftsAccepted());
            if (s.draftsVerified() > 0) p.put("acceptance_rate", s.acceptanceRate());
            else p.putNull("acceptance_rate");
            if (s.steps() > 0) p.put("tokens_per_step", s.tokensPerStep());
            else p.putNull("tokens_per_step");
            p.put("rebuilds", done.rebuilds());
        }

        private static String finishReason(StopReason reason) {
            return switch (reason) {
                case EOS, STOP_STRING -> "stop";
                case MAX_TOKENS, CONTEXT_FULL -> "length";
                case CANCELLED -> "abort";
            };
        }
    }

}
