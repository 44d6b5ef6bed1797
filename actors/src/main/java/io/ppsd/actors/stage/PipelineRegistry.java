package io.ppsd.actors.stage;

import com.typesafe.config.Config;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The pipelines this node knows, from {@code ppsd.pipelines}. Definitions are read on first use
 * (reading checks the model's config and head files) and cached; a bad definition is an error
 * for requests that use it, not for the node.
 */
public final class PipelineRegistry {
    private final Config pipelines;
    private final Config defaults;
    private final String defaultName;
    private final Map<String, PipelineDefinition> cache = new ConcurrentHashMap<>();

    public PipelineRegistry(Config config) {
        this.pipelines = config.getConfig("ppsd.pipelines");
        this.defaultName = config.getString("ppsd.default-pipeline");
        this.defaults = config.getConfig("ppsd.pipeline-defaults");
    }

    public String defaultName() {
        return defaultName;
    }

    public PipelineDefinition get(String name) {
        String n = name == null || name.isEmpty() ? defaultName : name;
        if (!n.matches("[A-Za-z0-9_-]+") || !pipelines.hasPath(n)) {
            throw new IllegalArgumentException("unknown pipeline '" + n + "' (configured: " + pipelines.root().keySet() + ")");
        }
        return cache.computeIfAbsent(n, k -> PipelineDefinition.fromConfig(k, pipelines.getConfig(k).withFallback(defaults)));
    }
}
