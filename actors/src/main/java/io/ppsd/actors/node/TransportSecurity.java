package io.ppsd.actors.node;

import com.typesafe.config.Config;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.UnrecoverableKeyException;
import java.security.cert.Certificate;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a node's Artery transport is checked for before its actor system starts.
 *
 * <p>With {@code tls-tcp} and Pekko's {@code ConfigSSLEngineProvider}, the key store and trust
 * store must exist, open with their passwords, hold a private key and a CA, and the node's own
 * certificate must be valid and signed by a CA in the trust store. Pekko itself reads the stores
 * only at the first connection, so without this a misconfigured node starts, then fails every
 * connection with a stack trace; here it fails at start with one message that names the file and
 * the script that makes it.
 *
 * <p>With plain {@code tcp} (or {@code aeron-udp}) bound to an address other than loopback it logs a
 * warning: anyone who reaches the port can join, and one malformed frame makes a Pekko 1.7.0 node
 * spin forever (cluster-configs/README.md, "Transport security").
 */
public final class TransportSecurity {
    private TransportSecurity() {}

    private static final Logger LOG = LoggerFactory.getLogger(TransportSecurity.class);

    /** The script that makes a cluster's keys, as the messages name it. */
    public static final String KEYS_SCRIPT = "cluster-configs/make-cluster-keys.sh";

    private static final String SSL = "pekko.remote.artery.ssl";
    private static final String ENGINE = SSL + ".config-ssl-engine";
    private static final String CONFIG_PROVIDER = "org.apache.pekko.remote.artery.tcp.ConfigSSLEngineProvider";

    /** A node's TLS stores are missing or unusable: the message says which file and what to do. */
    public static final class TlsConfigurationException extends IllegalArgumentException {
        TlsConfigurationException(String message) {
            super(message);
        }
    }

    /** Checks the transport of a resolved node configuration; throws {@link TlsConfigurationException} on bad TLS stores. */
    public static void check(Config c) {
        String transport = c.getString("pekko.remote.artery.transport");
        if (transport.equals("tls-tcp")) {
            if (c.getString(SSL + ".ssl-engine-provider").equals(CONFIG_PROVIDER)) checkStores(c.getConfig(ENGINE));
        } else {
            String bind = bindHost(c);
            if (!isLoopback(bind)) {
                LOG.warn("Artery transport is plain {} bound to {}, which is not a loopback address: anyone who reaches port {} can join "
                        + "this cluster unauthenticated, and one malformed frame makes Pekko 1.7.0 spin forever. Use TLS for nodes that "
                        + "other hosts reach (include \"tls.conf\", see cluster-configs/README.md).", transport, bind, bindPort(c));
            }
        }
    }

    static String bindHost(Config c) {
        String bind = c.getString("pekko.remote.artery.bind.hostname");
        return bind.isEmpty() ? c.getString("pekko.remote.artery.canonical.hostname") : bind;
    }

    private static String bindPort(Config c) {
        String bind = c.getString("pekko.remote.artery.bind.port");
        return bind.isEmpty() ? c.getString("pekko.remote.artery.canonical.port") : bind;
    }

    /** Loopback only: a name that does not resolve, "&lt;getHostAddress&gt;" and the wildcard address are not. */
    static boolean isLoopback(String host) {
        if (host.startsWith("<")) return false;
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    private static void checkStores(Config engine) {
        Path keyStorePath = Path.of(engine.getString("key-store"));
        Path trustStorePath = Path.of(engine.getString("trust-store"));
        KeyStore keyStore = open(keyStorePath, "key store", "key-store", "PPSD_TLS_KEYSTORE", engine.getString("key-store-password"));
        KeyStore trustStore = open(trustStorePath, "trust store", "trust-store", "PPSD_TLS_TRUSTSTORE", engine.getString("trust-store-password"));
        try {
            String keyAlias = null;
            for (String alias : Collections.list(keyStore.aliases())) {
                if (keyStore.isKeyEntry(alias)) {
                    keyAlias = alias;
                    break;
                }
            }
            if (keyAlias == null) {
                throw new TlsConfigurationException("TLS key store " + keyStorePath.toAbsolutePath() + " holds no private key: "
                        + "give this node a keystore made by " + KEYS_SCRIPT);
            }
            try {
                keyStore.getKey(keyAlias, engine.getString("key-password").toCharArray());
            } catch (UnrecoverableKeyException e) {
                throw new TlsConfigurationException("the private key in TLS key store " + keyStorePath.toAbsolutePath()
                        + " does not open with the configured key-password (PPSD_TLS_PASSWORD)");
            }
            List<X509Certificate> trusted = new ArrayList<>();
            for (String alias : Collections.list(trustStore.aliases())) {
                if (trustStore.isCertificateEntry(alias) && trustStore.getCertificate(alias) instanceof X509Certificate x) trusted.add(x);
            }
            if (trusted.isEmpty()) {
                throw new TlsConfigurationException("TLS trust store " + trustStorePath.toAbsolutePath() + " holds no CA certificate: "
                        + "use the truststore.p12 that " + KEYS_SCRIPT + " made");
            }
            Certificate[] chain = keyStore.getCertificateChain(keyAlias);
            if (chain == null || chain.length == 0 || !(chain[0] instanceof X509Certificate own)) {
                throw new TlsConfigurationException("TLS key store " + keyStorePath.toAbsolutePath() + " holds no certificate for its key");
            }
            try {
                own.checkValidity();
            } catch (CertificateExpiredException | CertificateNotYetValidException e) {
                throw new TlsConfigurationException("the certificate in TLS key store " + keyStorePath.toAbsolutePath() + " ("
                        + own.getSubjectX500Principal().getName() + ") is not valid now (" + own.getNotBefore() + " to " + own.getNotAfter()
                        + "): make a new one with " + KEYS_SCRIPT);
            }
            if (!signedByOneOf(chain, trusted)) {
                throw new TlsConfigurationException("the certificate in TLS key store " + keyStorePath.toAbsolutePath() + " ("
                        + own.getSubjectX500Principal().getName() + ") is not signed by a CA in trust store " + trustStorePath.toAbsolutePath()
                        + ": this node could not connect to its cluster. Make both with the same " + KEYS_SCRIPT + " DIR");
            }
        } catch (GeneralSecurityException e) {
            throw new TlsConfigurationException("TLS key store " + keyStorePath.toAbsolutePath() + " could not be read: " + e.getMessage());
        }
    }

    private static KeyStore open(Path file, String what, String key, String envVar, String password) {
        if (!Files.isRegularFile(file)) {
            throw new TlsConfigurationException("TLS " + what + " " + file.toAbsolutePath() + " does not exist (" + ENGINE + "." + key + "). "
                    + "Make the cluster's keys with " + KEYS_SCRIPT + " [DIR] [NAME...] and point PPSD_TLS_DIR (or " + envVar
                    + ") at them; see cluster-configs/README.md");
        }
        try (InputStream in = Files.newInputStream(file)) {
            // As Pekko's ConfigSSLEngineProvider reads it.
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(in, password.toCharArray());
            return store;
        } catch (IOException e) {
            if (e.getCause() instanceof UnrecoverableKeyException || String.valueOf(e.getMessage()).contains("password")) {
                throw new TlsConfigurationException("TLS " + what + " " + file.toAbsolutePath()
                        + " does not open with the configured password (PPSD_TLS_PASSWORD, " + ENGINE + "." + key + "-password)");
            }
            throw new TlsConfigurationException("TLS " + what + " " + file.toAbsolutePath() + " is not a readable keystore: " + e.getMessage());
        } catch (GeneralSecurityException e) {
            throw new TlsConfigurationException("TLS " + what + " " + file.toAbsolutePath() + " could not be read: " + e.getMessage());
        }
    }

    /** Whether some certificate of the chain is a trusted one or is signed by one. */
    private static boolean signedByOneOf(Certificate[] chain, List<X509Certificate> trusted) {
        for (Certificate c : chain) {
            for (X509Certificate ca : trusted) {
                if (c.equals(ca)) return true;
                try {
                    c.verify(ca.getPublicKey());
                    return true;
                } catch (GeneralSecurityException e) {
                    // not this CA
                }
            }
        }
        return false;
    }
}
