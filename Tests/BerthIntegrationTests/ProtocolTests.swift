import BerthClient
import BerthSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// The HTTP surface: negotiation headers, error shapes, disabled features, listeners.
@Suite(.enabled(if: Gate.runtime, Gate.runtimeReason)) struct ProtocolTests {
    @Test func pingVersionAndErrors() async throws {
        try await withDaemon { d in
            let ping = try await d.client.http.request(.GET, "/_ping")
            #expect(ping.status == 200 && ping.text == "OK")
            #expect(ping.header("Api-Version") == "1.47")
            #expect(ping.header("Builder-Version") == "1")
            #expect(ping.header("Ostype") == "linux")
            let head = try await d.client.http.request(.HEAD, "/_ping")
            #expect(head.status == 200 && head.body.isEmpty)
            let v = try await d.client.version()
            #expect(v.ApiVersion == "1.47" && v.MinAPIVersion == "1.24")
            let old = try await d.client.http.request(.GET, "/v1.41/version")
            #expect(old.status == 200)
            let tooNew = try await d.client.http.request(.GET, "/v1.99/version")
            #expect(tooNew.status == 400 && tooNew.text.contains("too new"))
            let bad = try await d.client.http.request(.POST, "/containers/create", body: Array("{bad".utf8),
                                                      headers: [("Content-Type", "application/json")])
            #expect(bad.status == 400 && bad.text.contains("\"message\""))
            #expect(try await d.client.http.request(.GET, "/no/such/route").status == 404)
            let swarm = try await d.client.http.request(.GET, "/swarm")
            #expect(swarm.status == 503 && swarm.text.contains("not a swarm manager"))
            #expect(try await d.client.http.request(.GET, "/plugins").text == "[]\n")
            let info = try await d.client.info()
            #expect(info.Containers == 0 && info.Driver == "overlay2")
            let noImage = try await d.client.http.request(.GET, "/images/acc/nosuch:1/json")
            #expect(noImage.status == 404 && noImage.text.contains("No such image"))
        }
    }

    @Test func refusesPublicTCPWithoutTLS() async throws {
        let d = try TestDaemon()
        defer { FS.removeAll(d.root) }
        let r = try await Subprocess.run([TestDaemon.binary, "-H", "tcp://0.0.0.0:23999", "--data-root", d.root + "/data",
                                          "--exec-root", d.root + "/exec", "--pidfile", d.root + "/p.pid"])
        #expect(r.status != 0)
        #expect(r.stderrText.contains("refusing to listen on tcp://0.0.0.0:23999"))
    }

    @Test func servesLoopbackTCP() async throws {
        let port = Int.random(in: 30000..<40000)
        try await withDaemon(extraArgs: ["-H", "tcp://127.0.0.1:\(port)"]) { _ in
            let c = BerthClient(address: .tcp(host: "127.0.0.1", port: port))
            let ok = try await c.ping()
            #expect(ok == "OK")
        }
    }

    /// An answer before the body is read (here a 404): the rest of the body is read and dropped,
    /// so a client that sends it all before reading, as most HTTP libraries do, gets its answer,
    /// and the connection serves the next request.
    @Test func unreadBodyIsDrainedAfterAnEarlyAnswer() async throws {
        try await withDaemon { d in
            let conn = try HijackTests.RawConn(path: d.socket)
            var tv = timeval(tv_sec: 15, tv_usec: 0)  // a server that stops reading fails the test
            setsockopt(conn.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            let size = 16 << 20
            try conn.send("POST /v1.47/no-such-endpoint HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\n"
                          + "Content-Length: \(size)\r\n\r\n")
            let chunk = [UInt8](repeating: 0x61, count: 1 << 20)
            for _ in 0..<16 { try chunk.withUnsafeBytes { try Syscall.writeAll(conn.fd, $0) } }
            let (head, _) = conn.readHead()
            #expect(head.hasPrefix("HTTP/1.1 404"))
            try conn.send("GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let rest = String(decoding: conn.readToEOF(), as: UTF8.self)
            #expect(rest.contains("HTTP/1.1 200 OK"))
            #expect(rest.hasSuffix("OK"))
        }
    }
}
