package io.ppsd.actors.http;

import com.typesafe.config.Config;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The HTTP front end's settings ({@code ppsd.http}): where it listens, the API keys that open it
 * (none = open, allowed only on a loopback address unless {@code allowUnauthenticated}), the
 * model names it serves (name → configured pipeline), and the largest request body.
 */
public record HttpSettings(String host, int port, List<String> apiKeys, Map<String, String> servedModels, long maxBodyBytes,
                           boolean allowUnauthenticated) {

    public HttpSettings {
        apiKeys = List.copyOf(apiKeys);
        servedModels = Map.copyOf(servedModels);
        if (port < 0 || port > 65535) throw new IllegalArgumentException("HTTP port must be in [0, 65535], got " + port);
        if (servedModels.isEmpty()) throw new IllegalArgumentException("the HTTP front end serves at least one model");
        if (apiKeys.stream().anyMatch(String::isBlank)) throw new IllegalArgumentException("an API key must not be empty");
        if (maxBodyBytes < 1024) throw new IllegalArgumentException("the request body limit must be ≥ 1 KiB");
        if (apiKeys.isEmpty() && !allowUnauthenticated && !isLoopback(host)) {
            throw new IllegalArgumentException("refusing to serve " + host + " without API keys: give --api-key (or PPSD_API_KEY), "
                    + "bind to 127.0.0.1, or say --allow-unauthenticated");
        }
    }

    /** From {@code ppsd.http} plus the keys of the environment variable {@code PPSD_API_KEY} (comma-separated). */
    public static HttpSettings fromConfig(Config c, String defaultPipeline) {
        var h = c.getConfig("ppsd.http");
        List<String> keys = new ArrayList<>(h.getStringList("api-keys"));
        keys.addAll(environmentKeys());
        Map<String, String> served = new LinkedHashMap<>();
        for (String name : h.getStringList("served-model-names")) served.put(name, defaultPipeline);
        if (served.isEmpty()) served.put(defaultPipeline, defaultPipeline);
        return new HttpSettings(h.getString("host"), h.getInt("port"), keys, served, h.getBytes("max-body-size"), h.getBoolean("allow-unauthenticated"));
    }

    static List<String> environmentKeys() {
        String env = System.getenv("PPSD_API_KEY");
        if (env == null || env.isBlank()) return List.of();
        return Arrays.stream(env.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
    }

    static boolean isLoopback(String host) {
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("cannot resolve the HTTP host '" + host + "'", e);
        }
    }
}
