package io.ppsd.runtime.simulated;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;

/**
 * The simulated devices configured under {@code ppsd.device-profiles} (defaults in the runtime's
 * {@code reference.conf}; add or override profiles in {@code application.conf} or with
 * {@code -Dppsd.device-profiles.<name>.<key>=...}).
 */
public record DeviceProfiles(Map<String, DeviceProfile> byName, String defaultProfile, Duration spin, double slowMotion) {

    public DeviceProfiles {
        byName = Map.copyOf(byName);
    }

    public static DeviceProfiles load() {
        return from(ConfigFactory.load());
    }

    public static DeviceProfiles from(Config root) {
        Config profiles = root.getConfig("ppsd.device-profiles");
        Map<String, DeviceProfile> map = new TreeMap<>();
        for (String name : profiles.root().keySet()) map.put(name, DeviceProfile.fromConfig(name, profiles.getConfig(quoted(name))));
        return new DeviceProfiles(map, root.getString("ppsd.simulated.profile"), root.getDuration("ppsd.simulated.spin"),
                root.getDouble("ppsd.simulated.slow-motion"));
    }

    /** The profile called {@code name}; the error lists the known ones. */
    public DeviceProfile get(String name) {
        DeviceProfile p = byName.get(name);
        if (p == null) throw new IllegalArgumentException("no device profile '" + name + "' (known: " + new TreeMap<>(byName).keySet() + ")");
        return p;
    }

    /** The configured default profile, slowed by the configured slow-motion factor (the "simulated" backend's device). */
    public DeviceProfile defaultOne() {
        return get(defaultProfile).slowedBy(slowMotion);
    }

    /** Keys such as {@code A100-13B} are plain HOCON keys, but names with dots need quoting in a path. */
    private static String quoted(String key) {
        return "\"" + key.replace("\"", "\\\"") + "\"";
    }
}
