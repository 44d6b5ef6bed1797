package io.ppsd.benchmarks.report;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.ser.std.StdSerializer;
import java.io.IOException;
import java.lang.reflect.RecordComponent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes rows of any record type as {@code results.csv} (one column per record component, NaN as
 * an empty cell) and {@code results.json} ({@code {"run": {...}, "results": [...]}}, NaN as null).
 */
public final class ResultFiles {
    private ResultFiles() {}

    public static <R extends Record> void writeCsv(Path file, List<R> rows, Class<R> type) throws IOException {
        RecordComponent[] cols = type.getRecordComponents();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < cols.length; i++) sb.append(i == 0 ? "" : ",").append(snake(cols[i].getName()));
        sb.append('\n');
        for (R r : rows) {
            for (int i = 0; i < cols.length; i++) {
                if (i > 0) sb.append(',');
                sb.append(cell(value(cols[i], r)));
            }
            sb.append('\n');
        }
        Files.writeString(file, sb);
    }

    public static <R extends Record> void writeJson(Path file, Map<String, Object> run, List<R> rows) throws IOException {
        var mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        mapper.registerModule(new SimpleModule().addSerializer(Double.class, new NanAsNull()).addSerializer(double.class, new NanAsNull()));
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("run", run);
        List<Map<String, Object>> list = new ArrayList<>();
        for (R r : rows) {
            Map<String, Object> m = new LinkedHashMap<>();
            for (RecordComponent c : r.getClass().getRecordComponents()) m.put(snake(c.getName()), value(c, r));
            list.add(m);
        }
        root.put("results", list);
        mapper.writeValue(file.toFile(), root);
    }

    /** Reads the rows of a {@code results.json} back (null numbers become NaN again). */
    public static <R extends Record> List<R> readJson(Path file, Class<R> type) throws IOException {
        var mapper = new ObjectMapper().setPropertyNamingStrategy(com.fasterxml.jackson.databind.PropertyNamingStrategies.SNAKE_CASE);
        List<R> rows = new ArrayList<>();
        for (var node : mapper.readTree(file.toFile()).get("results")) {
            var obj = (com.fasterxml.jackson.databind.node.ObjectNode) node;
            for (RecordComponent c : type.getRecordComponents()) {
                String key = snake(c.getName());
                if (c.getType() == double.class && (!obj.has(key) || obj.get(key).isNull())) obj.put(key, Double.NaN);
            }
            rows.add(mapper.treeToValue(obj, type));
        }
        return rows;
    }

    /** Reads rows written by {@link #writeCsv} back (empty cells become NaN); cells must not contain commas. */
    public static <R extends Record> List<R> readCsv(Path file, Class<R> type) throws IOException {
        List<String> lines = Files.readAllLines(file);
        RecordComponent[] cols = type.getRecordComponents();
        List<String> header = List.of(lines.getFirst().split(","));
        Class<?>[] types = java.util.Arrays.stream(cols).map(RecordComponent::getType).toArray(Class<?>[]::new);
        List<R> rows = new ArrayList<>();
        for (String line : lines.subList(1, lines.size())) {
            String[] cells = line.split(",", -1);
            Object[] args = new Object[cols.length];
            for (int i = 0; i < cols.length; i++) {
                int at = header.indexOf(snake(cols[i].getName()));
                if (at < 0 || at >= cells.length) throw new IOException(file + ": no column " + snake(cols[i].getName()));
                String v = cells[at];
                args[i] = types[i] == int.class ? Integer.parseInt(v) : types[i] == double.class ? (v.isEmpty() ? Double.NaN : Double.parseDouble(v))
                        : types[i] == boolean.class ? Boolean.parseBoolean(v) : v;
            }
            try {
                rows.add(type.getDeclaredConstructor(types).newInstance(args));
            } catch (ReflectiveOperationException e) {
                throw new IOException(file + ": " + e.getMessage(), e);
            }
        }
        return rows;
    }

    static Object value(RecordComponent c, Record r) {
        try {
            return c.getAccessor().invoke(r);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String cell(Object v) {
        if (v == null) return "";
        if (v instanceof Double d) return d.isNaN() || d.isInfinite() ? "" : String.format(Locale.ROOT, "%.4f", d);
        String s = v.toString();
        return s.contains(",") || s.contains("\"") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
    }

    static String snake(String camel) {
        return camel.replaceAll("([a-z0-9])([A-Z])", "$1_$2").toLowerCase(Locale.ROOT);
    }

    private static final class NanAsNull extends StdSerializer<Double> {
        NanAsNull() {
            super(Double.class);
        }

        @Override
        public void serialize(Double v, JsonGenerator g, SerializerProvider p) throws IOException {
            if (v == null || v.isNaN() || v.isInfinite()) g.writeNull();
            else g.writeNumber(Math.round(v * 1e4) / 1e4);
        }
    }
}
