package io.ppsd.actors.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.ppsd.runtime.tokenizer.Tokenizer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code ppsd tokenize}: token ids and pieces of a text, to compare with other tools. */
@Command(name = "tokenize", mixinStandardHelpOptions = true, description = "Print the token ids of a text.")
final class TokenizeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--tokenizer", required = true, description = "A tokenizer.json file.")
    Path tokenizerFile;

    @Option(names = "--text", required = true, description = "The text to tokenize.")
    String text;

    @Option(names = "--no-special", description = "Do not add BOS/EOS or other template tokens.")
    boolean noSpecial;

    @Option(names = "--json", description = "Print JSON: {\"ids\": [...], \"pieces\": [...]}.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        Tokenizer tokenizer = Tokenizer.load(tokenizerFile);
        int[] ids = tokenizer.encode(text, !noSpecial);
        if (json) {
            var mapper = new ObjectMapper();
            var root = mapper.createObjectNode();
            var idArray = root.putArray("ids");
            var pieces = root.putArray("pieces");
            for (int id : ids) {
                idArray.add(id);
                pieces.add(tokenizer.tokenPiece(id));
            }
            out.println(mapper.writeValueAsString(root));
        } else {
            for (int id : ids) out.printf("%d\t%s%n", id, tokenizer.tokenPiece(id));
        }
        out.flush();
        return 0;
    }
}
