package io.ppsd.actors.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code ppsd} command line: one subcommand per job. */
@Command(name = "ppsd", mixinStandardHelpOptions = true, version = "ppsd 0.1.0",
        description = "Pipeline-parallel self-speculative decoding for LLaMA-family models.",
        subcommands = {GenerateCommand.class, ServeCommand.class, TokenizeCommand.class, NodeCommand.class, ClientCommand.class, ProbeCommand.class})
public final class PpsdCli {

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI without exiting. */
    public static int run(String... args) {
        return run(new java.io.PrintWriter(System.out, true), new java.io.PrintWriter(System.err, true), args);
    }

    /** Runs the CLI with its output captured (tests). */
    public static int run(java.io.PrintWriter out, java.io.PrintWriter err, String... args) {
        var cli = new CommandLine(new PpsdCli());
        cli.setOut(out);
        cli.setErr(err);
        return withErrorReporting(cli).execute(args);
    }

    /** A failed command prints one {@code error:} line (the stack trace too with PPSD_DEBUG set) and exits with 1. */
    public static CommandLine withErrorReporting(CommandLine cli) {
        return cli.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            cmd.getErr().println("error: " + (ex.getMessage() == null ? ex.toString() : ex.getMessage()));
            if (System.getenv("PPSD_DEBUG") != null) ex.printStackTrace(cmd.getErr());
            return 1;
        });
    }
}
