package io.ppsd.benchmarks.suite;

import io.ppsd.benchmarks.run.DeviceSpec;
import io.ppsd.benchmarks.run.SuiteSettings;
import io.ppsd.runtime.model.ModelConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;

/**
 * The suites that compare AR, EESD and PPSD. For a model of N layers:
 * <ul>
 *   <li>{@code default}: on real CPU cores, PPSD at 2 stages (E = N/2) and EESD γ = 1..8 for the same
 *       heads; on simulated devices, PPSD at E ∈ {N/8, N/4, N/2} (8, 4 and 2 stages) and EESD
 *       γ = 1..8 for every head and E; each head kind the model ships plus {@code norm}.</li>
 *   <li>{@code ppsd}: the PPSD configurations of {@code default} only.</li>
 *   <li>{@code transports}: the stage traffic itself — simulated devices only, PPSD at 4 stages
 *       (E = N/4) and 8 stages (E = N/8) with the model's best head at each, once per
 *       {@code --transport} (e.g. one JVM, node JVMs on loopback, namespace hosts with added
 *       delay), with hop probes; no EESD, no CPU rows.</li>
 *   <li>{@code --quick}: a handful of configurations with few tokens (CI smoke test).</li>
 * </ul>
 * Every configuration is measured against AR on its device; one AR row per device shows the noise
 * (AR against itself), and on CPU one row AR on a single core against AR on all of them (what AR
 * gains from the cores the 2-stage pipeline splits between its stages).
 */
public record SpeculationSuite(String name, boolean withEesd) {

    public static final List<String> NAMES = List.of("default", "ppsd", "transports");

    public static SpeculationSuite named(String name) {
        return switch (name) {
            case "default" -> new SpeculationSuite(name, true);
            case "ppsd", "transports" -> new SpeculationSuite(name, false);
            default -> throw new IllegalArgumentException("unknown suite '" + name + "'");
        };
    }

    public SuiteSettings settings(boolean quick) {
        return quick ? new SuiteSettings(16, 1, 1, 1.0, 2, 48) : new SuiteSettings(48, 2, 1, 2.0, 3, 96);
    }

    public List<BenchConfig> configs(Path modelDir, ModelConfig config, DeviceSpec cpu, DeviceSpec simulated, List<String> transports, boolean quick) {
        int n = config.numLayers();
        List<BenchConfig> out = new ArrayList<>();
        int half = Math.max(1, n / 2), quarter = Math.max(1, n / 4), eighth = Math.max(1, n / 8);
        if (name.equals("transports")) {
            out.add(BenchConfig.ar(simulated, n));
            for (int e : new TreeSet<>(List.of(quarter, eighth)).descendingSet()) {
                HeadChoice best = HeadChoice.at(modelDir, config, e).getLast(); // a shipped head when there is one, else norm
                for (String t : transports) out.add(BenchConfig.ppsd(simulated, t, best, n));
            }
            return out;
        }
        if (quick) {
            out.add(BenchConfig.ar(cpu, n));
            if (cpu instanceof DeviceSpec.CpuCompute c && c.threads() > 1) out.add(BenchConfig.arOn(cpu, new DeviceSpec.CpuCompute(1), n));
            HeadChoice norm = HeadChoice.at(modelDir, config, half).getFirst();
            out.add(BenchConfig.eesd(cpu, norm, 2, n));
            out.add(BenchConfig.eesd(cpu, norm, 4, n));
            for (String t : transports) out.add(BenchConfig.ppsd(cpu, t, norm, n));
            out.add(BenchConfig.ar(simulated, n));
            List<HeadChoice> atQuarter = HeadChoice.at(modelDir, config, quarter);
            HeadChoice best = atQuarter.getLast(); // a shipped head when there is one, else norm
            out.add(BenchConfig.eesd(simulated, best, 3, n));
            for (String t : transports) out.add(BenchConfig.ppsd(simulated, t, best, n));
            if (eighth < quarter) for (String t : transports) out.add(BenchConfig.ppsd(simulated, t, HeadChoice.at(modelDir, config, eighth).getFirst(), n));
            return out;
        }
        out.add(BenchConfig.ar(cpu, n));
        if (cpu instanceof DeviceSpec.CpuCompute c && c.threads() > 1) out.add(BenchConfig.arOn(cpu, new DeviceSpec.CpuCompute(1), n));
        for (HeadChoice h : HeadChoice.at(modelDir, config, half)) addHead(out, cpu, h, transports, n);
        out.add(BenchConfig.ar(simulated, n));
        for (int e : new TreeSet<>(List.of(eighth, quarter, half))) {
            if (e >= n) continue;
            for (HeadChoice h : HeadChoice.at(modelDir, config, e)) addHead(out, simulated, h, transports, n);
        }
        return out;
    }

    private void addHead(List<BenchConfig> out, DeviceSpec device, HeadChoice head, List<String> transports, int n) {
        if (withEesd) for (int g = 1; g <= 8; g++) out.add(BenchConfig.eesd(device, head, g, n));
        for (String t : transports) out.add(BenchConfig.ppsd(device, t, head, n));
    }

    public String describe() {
        return String.format(Locale.ROOT, "%s (AR%s, PPSD; CPU at 2 stages, simulated at 2/4/8 stages)", name, withEesd ? ", EESD γ=1..8" : "");
    }
}
