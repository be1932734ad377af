package ksqlpy.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

/**
 * The Kafka Streams contender of tests/perf/run.
 *
 * <p>Usage: {@code BenchApp agg|filter BOOTSTRAP INPUT OUTPUT APPLICATION_ID STATE_DIR}. Runs until
 * killed; prints {@code FIRST <epoch ms>} when the first record is seen, so the harness can time
 * processing without the JVM start and the group join. The harness decides when it is done by
 * watching the group's committed offsets.
 */
public final class BenchApp {
  private static final ObjectMapper JSON = new ObjectMapper();

  public static void main(String[] args) throws Exception {
    if (args.length != 6) {
      System.err.println("usage: BenchApp agg|filter BOOTSTRAP INPUT OUTPUT APPLICATION_ID STATE_DIR");
      System.exit(2);
    }
    String mode = args[0];
    Properties props = new Properties();
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[1]);
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, args[4]);
    props.put(StreamsConfig.STATE_DIR_CONFIG, args[5]);
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
    // the same values as ksqlDB's defaults for its own Streams apps, set explicitly
    props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 10_000_000L);
    props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 1000);
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
    props.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");

    StreamsBuilder builder = new StreamsBuilder();
    KStream<Bytes, JsonNode> events =
        builder.stream(args[2], Consumed.with(Serdes.Bytes(), jsonSerde()));
    AtomicBoolean seen = new AtomicBoolean();
    events = events.peek((k, v) -> {
      if (!seen.get() && seen.compareAndSet(false, true)) {
        System.out.println("FIRST " + System.currentTimeMillis());
        System.out.flush();
      }
    });
    switch (mode) {
      case "agg" -> events
          .groupByKey()
          .aggregate(
              () -> new long[] {0L, 0L},
              (k, v, agg) -> new long[] {agg[0] + 1, agg[1] + v.path("SCORE").asLong()},
              Materialized.<Bytes, long[], org.apache.kafka.streams.state.KeyValueStore<Bytes, byte[]>>as("totals")
                  .withKeySerde(Serdes.Bytes())
                  .withValueSerde(countSumSerde()))
          .toStream()
          .mapValues(agg -> {
            ObjectNode out = JSON.createObjectNode();
            out.put("N", agg[0]);
            out.put("S", agg[1]);
            return (JsonNode) out;
          })
          .to(args[3], Produced.with(Serdes.Bytes(), jsonSerde()));
      case "filter" -> events
          .filter((k, v) -> v.path("SCORE").asLong() > 50)
          .mapValues(v -> {
            ObjectNode out = JSON.createObjectNode();
            out.put("SCORE", v.path("SCORE").asLong());
            out.put("DOUBLED", v.path("SCORE").asLong() * 2);
            out.put("REGION_U", v.path("REGION").asText().toUpperCase(Locale.ROOT));
            return (JsonNode) out;
          })
          .to(args[3], Produced.with(Serdes.Bytes(), jsonSerde()));
      default -> {
        System.err.println("unknown mode " + mode);
        System.exit(2);
      }
    }

    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    CountDownLatch done = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close();
      done.countDown();
    }));
    streams.setStateListener((now, before) -> {
      System.out.println("STATE " + now);
      System.out.flush();
    });
    streams.start();
    done.await();
  }

  private static Serde<JsonNode> jsonSerde() {
    Serializer<JsonNode> ser = (topic, v) -> {
      try {
        return v == null ? null : JSON.writeValueAsBytes(v);
      } catch (Exception e) {
        throw new RuntimeException(e);
      }
    };
    Deserializer<JsonNode> de = (topic, b) -> {
      try {
        return b == null ? null : JSON.readTree(b);
      } catch (Exception e) {
        throw new RuntimeException(e);
      }
    };
    return Serdes.serdeFrom(ser, de);
  }

  private static Serde<long[]> countSumSerde() {
    Serializer<long[]> ser = (topic, v) ->
        v == null ? null : ByteBuffer.allocate(16).putLong(v[0]).putLong(v[1]).array();
    Deserializer<long[]> de = (topic, b) -> {
      if (b == null) {
        return null;
      }
      ByteBuffer buf = ByteBuffer.wrap(b);
      return new long[] {buf.getLong(), buf.getLong()};
    };
    return Serdes.serdeFrom(ser, de);
  }
}
