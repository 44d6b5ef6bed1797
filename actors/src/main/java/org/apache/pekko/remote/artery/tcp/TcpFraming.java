/*
 * Derived from Apache Pekko 1.7.0, remote/src/main/scala/org/apache/pekko/remote/artery/tcp/TcpFraming.scala,
 * which is licensed to the Apache Software Foundation (ASF) under the Apache License, version 2.0
 * (https://www.apache.org/licenses/LICENSE-2.0) and was derived from Akka, Copyright (C) 2018-2022
 * Lightbend Inc. <https://www.lightbend.com>. Ported to Java by ppsd, with one change:
 * the frame-length bound that apache/pekko#3492 added upstream (backported to the 1.7.x branch as
 * #3525, in no release when this was written). ppsd's classes come before pekko-remote on the
 * class path, so this class replaces Pekko's: see io.ppsd.actors.node.InboundFrameLimit and
 * cluster-configs/README.md, "Transport security". Remove it once Pekko ships the bound
 * (PlainTcpFrameTest fails when the Pekko version changes).
 */
package org.apache.pekko.remote.artery.tcp;

import io.ppsd.actors.node.InboundFrameLimit;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HexFormat;
import org.apache.pekko.remote.artery.EnvelopeBuffer;
import org.apache.pekko.remote.artery.RemotingFlightRecorder;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.impl.io.ByteStringParser;
import org.apache.pekko.stream.scaladsl.Framing;
import org.apache.pekko.stream.stage.GraphStageLogic;
import org.apache.pekko.util.ByteString;
import scala.Option;

/**
 * Artery's inbound TCP framing (connection header: 4-byte magic, 1-byte stream id; then frames of
 * a 4-byte little-endian length and that many bytes), as Pekko 1.7.0 has it except for one check:
 * a frame length that is negative or above {@link InboundFrameLimit#get()} fails the connection
 * with a {@link Framing.FramingException} before anything is buffered.
 *
 * <p>Why: Pekko 1.7.0 passes the length to {@code ByteReader.take(n)}, whose bound check
 * {@code off + n <= input.length} overflows for n near {@code Integer.MAX_VALUE}. For the length
 * 0x7fffffff the check passes, the reader's offset wraps negative, the frame handed on is the rest
 * of the buffer, and the unconsumed buffer is kept as it was: the same bytes are parsed into the
 * same bogus frame again, forever, on every pull. One 1 KB write ({@code AKKA}, a stream id,
 * {@code ff ff ff 7f}, anything) from an unauthenticated peer keeps a core busy and, through
 * the decoder's warnings, floods the log and fills the heap. With the bound the connection is
 * closed, as for a wrong magic.
 */
public class TcpFraming extends ByteStringParser<EnvelopeBuffer> {
    /** Marks this class as ppsd's replacement (InboundFrameLimit#patched checks for it). */
    public static final boolean PPSD_FRAME_LENGTH_BOUND = true;

    private final scala.collection.immutable.Set<ByteString> acceptedMagic;
    private final RemotingFlightRecorder flightRecorder;
    private final int magicLength;

    public TcpFraming(scala.collection.immutable.Set<ByteString> acceptedMagic, RemotingFlightRecorder flightRecorder) {
        this.acceptedMagic = acceptedMagic;
        this.flightRecorder = flightRecorder;
        this.magicLength = acceptedMagic.head().length();
    }

    // The static forwarders of Pekko's class (Scala callers use the companion object TcpFraming$, which is Pekko's own).
    public static ByteString encodeConnectionHeader(ByteString magic, int streamId) {
        return TcpFraming$.MODULE$.encodeConnectionHeader(magic, streamId);
    }

    public static ByteString encodeFrameHeader(int frameLength) {
        return TcpFraming$.MODULE$.encodeFrameHeader(frameLength);
    }

    public static ByteString DefaultMagic() {
        return TcpFraming$.MODULE$.DefaultMagic();
    }

    public static ByteString PekkoMagic() {
        return TcpFraming$.MODULE$.PekkoMagic();
    }

    public static int Undefined() {
        return TcpFraming$.MODULE$.Undefined();
    }

    public static scala.collection.immutable.Set<ByteString> $lessinit$greater$default$1() {
        return TcpFraming$.MODULE$.$lessinit$greater$default$1();
    }

    public static RemotingFlightRecorder $lessinit$greater$default$2() {
        return TcpFraming$.MODULE$.$lessinit$greater$default$2();
    }

    @Override
    public GraphStageLogic createLogic(Attributes inheritedAttributes) {
        return new Logic();
    }

    private final class Logic extends ParsingLogic {
        Logic() {
            startWith(new ReadMagic());
        }

        private final class ReadMagic implements ParseStep<EnvelopeBuffer> {
            @Override
            public ParseResult<EnvelopeBuffer> parse(ByteReader reader) {
                ByteString received = reader.take(magicLength);
                if (acceptedMagic.contains(received)) return new ParseResult<>(Option.empty(), new ReadStreamId(), true);
                throw new Framing.FramingException("Stream didn't start with expected magic bytes, got ["
                        + HexFormat.ofDelimiter(" ").formatHex(received.concat(reader.remainingData()).take(10).toArray())
                        + "] Connection is rejected. Probably invalid accidental access.");
            }
        }

        private final class ReadStreamId implements ParseStep<EnvelopeBuffer> {
            @Override
            public ParseResult<EnvelopeBuffer> parse(ByteReader reader) {
                return new ParseResult<>(Option.empty(), new ReadFrame(reader.readByte()), true);
            }
        }

        private final class ReadFrame implements ParseStep<EnvelopeBuffer> {
            private final int streamId;

            ReadFrame(int streamId) {
                this.streamId = streamId;
            }

            @Override
            public void onTruncation() {
                failStage(new Framing.FramingException("Stream finished but there was a truncated final frame in the buffer"));
            }

            @Override
            public ParseResult<EnvelopeBuffer> parse(ByteReader reader) {
                int frameLength = reader.readIntLE();
                int limit = InboundFrameLimit.get();
                if (frameLength < 0 || frameLength > limit) {
                    throw new Framing.FramingException("Frame length [" + Integer.toUnsignedString(frameLength) + "] on stream [" + streamId
                            + "] is negative or over the maximum frame size [" + limit + "]. Connection is rejected.");
                }
                ByteString bytes = reader.take(frameLength);
                ByteBuffer buffer = ByteBuffer.wrap(bytes.toArray());
                buffer.order(ByteOrder.LITTLE_ENDIAN);
                flightRecorder.tcpInboundReceived(buffer.limit());
                EnvelopeBuffer envelope = new EnvelopeBuffer(buffer);
                envelope.setStreamId(streamId);
                return new ParseResult<>(Option.apply(envelope), this, true);
            }
        }
    }
}
