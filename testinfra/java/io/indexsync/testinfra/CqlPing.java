package io.indexsync.testinfra;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Readiness probe for the test Cassandra, with no driver: speaks just enough of
 * the CQL native protocol v4 (STARTUP, SASL PLAIN login, one QUERY) to run
 *   SELECT release_version FROM system.local
 * as a password-authenticated user.
 *
 * Usage: java io.indexsync.testinfra.CqlPing HOST PORT USER PASSWORD TIMEOUT_SECONDS [QUERY [CONSISTENCY]]
 * Retries until the query works or the timeout passes (the superuser role is
 * created a few seconds after the port opens, so the first logins fail).
 * Prints the first column of the first row (text, int, bigint/counter,
 * boolean; other types in hex) and exits 0; a statement without rows prints
 * "(result kind N)". Exits 1 on timeout after printing the last error.
 * CONSISTENCY is ONE (the default), QUORUM or ALL: a read at ALL through a
 * node fails until that node sees every replica up (the cluster's check that
 * a restarted node is back for everyone).
 */
public final class CqlPing {
    private static final int VERSION = 0x04;
    private static final int OP_ERROR = 0x00, OP_STARTUP = 0x01, OP_READY = 0x02,
        OP_AUTHENTICATE = 0x03, OP_QUERY = 0x07, OP_RESULT = 0x08,
        OP_AUTH_RESPONSE = 0x0F, OP_AUTH_SUCCESS = 0x10, OP_AUTH_CHALLENGE = 0x0E;

    public static void main(String[] args) throws Exception {
        if (args.length < 5) {
            System.err.println("usage: CqlPing HOST PORT USER PASSWORD TIMEOUT_SECONDS [QUERY [CONSISTENCY]]");
            System.exit(2);
        }
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        String user = args[2], password = args[3];
        long deadline = System.nanoTime() + Long.parseLong(args[4]) * 1_000_000_000L;
        String query = args.length > 5 ? args[5] : "SELECT release_version FROM system.local";
        short consistency;
        switch (args.length > 6 ? args[6] : "ONE") {
            case "ONE": consistency = 0x0001; break;
            case "QUORUM": consistency = 0x0004; break;
            case "ALL": consistency = 0x0005; break;
            default:
                System.err.println("CqlPing: CONSISTENCY must be ONE, QUORUM or ALL");
                System.exit(2);
                return;
        }
        String last = "no attempt";
        while (true) {
            try {
                System.out.println(ping(host, port, user, password, query, consistency));
                return;
            } catch (Exception e) {
                last = e.toString();
            }
            if (System.nanoTime() > deadline) {
                System.err.println("CqlPing: gave up: " + last);
                System.exit(1);
            }
            Thread.sleep(500);
        }
    }

    static String ping(String host, int port, String user, String password, String query, short consistency) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, port), 2000);
            s.setSoTimeout(10000);
            OutputStream out = s.getOutputStream();
            DataInputStream in = new DataInputStream(s.getInputStream());

            ByteBuffer b = ByteBuffer.allocate(64);
            b.putShort((short) 1);
            putString(b, "CQL_VERSION");
            putString(b, "3.0.0");
            send(out, 1, OP_STARTUP, b);
            Frame f = read(in);
            if (f.op == OP_AUTHENTICATE) {
                byte[] u = user.getBytes(StandardCharsets.UTF_8), p = password.getBytes(StandardCharsets.UTF_8);
                ByteBuffer a = ByteBuffer.allocate(4 + 2 + u.length + p.length);
                a.putInt(2 + u.length + p.length).put((byte) 0).put(u).put((byte) 0).put(p);
                send(out, 2, OP_AUTH_RESPONSE, a);
                f = read(in);
                if (f.op == OP_AUTH_CHALLENGE) throw new IOException("unexpected SASL challenge");
                if (f.op != OP_AUTH_SUCCESS) throw new IOException("login failed: " + describe(f));
            } else if (f.op != OP_READY) {
                throw new IOException("STARTUP failed: " + describe(f));
            }

            byte[] q = query.getBytes(StandardCharsets.UTF_8);
            ByteBuffer qb = ByteBuffer.allocate(4 + q.length + 3);
            qb.putInt(q.length).put(q).putShort(consistency).put((byte) 0);
            send(out, 3, OP_QUERY, qb);
            f = read(in);
            if (f.op != OP_RESULT) throw new IOException("query failed: " + describe(f));
            return firstCell(f.body);
        }
    }

    /** RESULT/Rows: metadata, then rows; returns the first cell as text. */
    private static String firstCell(ByteBuffer r) throws IOException {
        int kind = r.getInt();
        if (kind != 0x0002) return "(result kind " + kind + ")";
        int flags = r.getInt();
        int cols = r.getInt();
        if ((flags & 0x0002) != 0) { int n = r.getInt(); if (n >= 0) r.position(r.position() + n); } // paging state
        boolean noMetadata = (flags & 0x0004) != 0;
        int firstType = 0x000D; // varchar
        if (!noMetadata) {
            boolean global = (flags & 0x0001) != 0;
            if (global) { getString(r); getString(r); }
            for (int i = 0; i < cols; i++) {
                if (!global) { getString(r); getString(r); }
                getString(r);
                int t = r.getShort(r.position()) & 0xffff;
                if (i == 0) firstType = t;
                skipType(r);
            }
        }
        int rows = r.getInt();
        if (rows < 1) throw new IOException("query returned no rows");
        int len = r.getInt();
        if (len < 0) return "null";
        byte[] v = new byte[len];
        r.get(v);
        ByteBuffer vb = ByteBuffer.wrap(v);
        switch (firstType) {
            case 0x0002: case 0x0005: case 0x000B: // bigint, counter, timestamp
                return len == 8 ? Long.toString(vb.getLong()) : hex(v);
            case 0x0009: return len == 4 ? Integer.toString(vb.getInt()) : hex(v); // int
            case 0x0004: return len == 1 ? Boolean.toString(v[0] != 0) : hex(v);   // boolean
            case 0x0001: case 0x000D: return new String(v, StandardCharsets.UTF_8); // ascii, varchar
            default: return hex(v);
        }
    }

    private static String hex(byte[] v) {
        StringBuilder sb = new StringBuilder("0x");
        for (byte b : v) sb.append(String.format("%02x", b));
        return sb.toString();
    }

    private static void skipType(ByteBuffer r) {
        int id = r.getShort() & 0xffff;
        switch (id) {
            case 0x0000: getString(r); break;                   // custom
            case 0x0020: case 0x0022: skipType(r); break;       // list, set
            case 0x0021: skipType(r); skipType(r); break;       // map
            case 0x0030: getString(r); getString(r);            // UDT
                for (int n = r.getShort(), i = 0; i < n; i++) { getString(r); skipType(r); }
                break;
            case 0x0031:                                        // tuple
                for (int n = r.getShort(), i = 0; i < n; i++) skipType(r);
                break;
            default: break;
        }
    }

    private static String describe(Frame f) {
        if (f.op == OP_ERROR) {
            int code = f.body.getInt();
            return String.format("error 0x%04x: %s", code, getString(f.body));
        }
        return "opcode 0x" + Integer.toHexString(f.op);
    }

    private static final class Frame {
        int op;
        ByteBuffer body;
    }

    private static void send(OutputStream out, int stream, int op, ByteBuffer body) throws IOException {
        body.flip();
        ByteBuffer h = ByteBuffer.allocate(9 + body.remaining());
        h.put((byte) VERSION).put((byte) 0).putShort((short) stream).put((byte) op).putInt(body.remaining()).put(body);
        out.write(h.array());
        out.flush();
    }

    private static Frame read(DataInputStream in) throws IOException {
        byte[] h = new byte[9];
        in.readFully(h);
        ByteBuffer hb = ByteBuffer.wrap(h);
        int version = hb.get() & 0x7f;
        int flags = hb.get();
        hb.getShort();
        Frame f = new Frame();
        f.op = hb.get() & 0xff;
        int len = hb.getInt();
        if (len < 0 || len > (16 << 20)) throw new EOFException("bad frame length " + len);
        byte[] body = new byte[len];
        in.readFully(body);
        f.body = ByteBuffer.wrap(body);
        if (version != VERSION) {
            // server answers an unsupported version with an ERROR in its own version
            if (f.op == OP_ERROR) throw new IOException(describe(f));
            throw new IOException("server speaks protocol v" + version);
        }
        if ((flags & 0x08) != 0) { // warning flag: string list before the body
            for (int n = f.body.getShort(), i = 0; i < n; i++) getString(f.body);
        }
        return f;
    }

    private static void putString(ByteBuffer b, String s) {
        byte[] v = s.getBytes(StandardCharsets.UTF_8);
        b.putShort((short) v.length).put(v);
    }

    private static String getString(ByteBuffer b) {
        int n = b.getShort() & 0xffff;
        byte[] v = new byte[n];
        b.get(v);
        return new String(v, StandardCharsets.UTF_8);
    }
}
