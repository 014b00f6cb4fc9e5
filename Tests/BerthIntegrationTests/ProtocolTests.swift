import BerthClient
import BerthSystem
import Foundation
import Testing

/// The HTTP surface: negotiation headers, error shapes, disabled features, listeners.
@Suite struct ProtocolTests {
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
}
