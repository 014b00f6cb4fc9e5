#if canImport(Glibc)
import Glibc
#endif
import BerthArchive
import BerthClient
import BerthImage
import BerthModels
import BerthSystem
import Foundation
import Testing

/// A registry that serves hostile manifests, configs and blobs: every pull fails with a clear
/// error, berthd stays up, nothing outside its directories changes and nothing is left staged.
@Suite(.enabled(if: Gate.runtime, Gate.runtimeReason)) struct HostileRegistryTests {
    /// Serves fixed bodies by path (`/v2/` answers 200): one connection per request.
    final class FakeRegistry: @unchecked Sendable {
        let routes: [String: (type: String, body: [UInt8])]
        var server: LoopbackServer?
        init(_ routes: [String: (type: String, body: [UInt8])]) throws {
            self.routes = routes
            server = try LoopbackServer { [routes] c in
                guard let head = readRequestHead(c), let line = head.split(separator: "\r\n").first else { return }
                let parts = line.split(separator: " ")
                guard parts.count >= 2 else { return }
                let method = String(parts[0]), path = String(parts[1])
                let hit = path == "/v2/" ? (type: "application/json", body: Array("{}".utf8)) : routes[path]
                guard let hit else {
                    let body = #"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
                    writeAll(c, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body)
                    return
                }
                writeAll(c, "HTTP/1.1 200 OK\r\nContent-Type: \(hit.type)\r\nContent-Length: \(hit.body.count)\r\nConnection: close\r\n\r\n")
                if method != "HEAD" { _ = hit.body.withUnsafeBytes { try? Syscall.writeAll(c, $0) } }
            }
        }
        var host: String { "127.0.0.1:\(server!.port)" }
        func stop() { server?.stop() }
    }

    static let manifestType = "application/vnd.docker.distribution.manifest.v2+json"

    static func manifest(config: String, configSize: Int, layers: [(String, Int)]) -> [UInt8] {
        let ls = layers.map { #"{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"\#($0.0)","size":\#($0.1)}"# }
        return Array(#"{"schemaVersion":2,"mediaType":"\#(manifestType)","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"\#(config)","size":\#(configSize)},"layers":[\#(ls.joined(separator: ","))]}"#.utf8)
    }

    @Test func hostilePullsFailCleanly() async throws {
        let victim = "/tmp/berth-victim-" + String(Identifier.random64().prefix(10))
        try FS.mkdirAll(victim)
        try FS.write(victim + "/keep", "precious\n")
        defer { FS.removeAll(victim) }
        let zero64 = "sha256:" + String(repeating: "0", count: 64)
        // A config whose diff id climbs out, served under its true digest.
        let badConfig = Array(#"{"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":["sha256:../../../..\#(victim)"]}}"#.utf8)
        let badConfigDigest = Digest.sha256(badConfig)
        // A layer that is a gzip bomb (1 GiB of zeros), served under its true digest.
        let member = try Subprocess.runBlocking(["gzip", "-1", "-c"], input: [UInt8](repeating: 0, count: 64 << 20)).stdout
        var bomb: [UInt8] = []
        for _ in 0..<16 { bomb += member }
        let bombDigest = Digest.sha256(bomb)
        let goodConfig = Array(#"{"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":["\#(zero64)"]}}"#.utf8)
        let goodConfigDigest = Digest.sha256(goodConfig)
        let reg = try FakeRegistry([
            "/v2/evil/cfgpath/manifests/1": (Self.manifestType, Self.manifest(config: "sha256:../../../..\(victim)", configSize: 10, layers: [])),
            "/v2/evil/upper/manifests/1": (Self.manifestType, Self.manifest(config: "sha256:" + String(repeating: "A", count: 64), configSize: 10, layers: [])),
            "/v2/evil/layerpath/manifests/1": (Self.manifestType, Self.manifest(config: goodConfigDigest.description, configSize: goodConfig.count,
                                                                          layers: [("sha256:x/../../..\(victim)", 10)])),
            "/v2/evil/diffid/manifests/1": (Self.manifestType, Self.manifest(config: badConfigDigest.description, configSize: badConfig.count, layers: [(zero64, 10)])),
            "/v2/evil/diffid/blobs/\(badConfigDigest)": ("application/octet-stream", badConfig),
            "/v2/evil/huge/manifests/1": (Self.manifestType, [UInt8](repeating: 0x20, count: 9 << 20)),
            "/v2/evil/bomb/manifests/1": (Self.manifestType, Self.manifest(config: goodConfigDigest.description, configSize: goodConfig.count,
                                                                     layers: [(bombDigest.description, bomb.count)])),
            "/v2/evil/bomb/blobs/\(goodConfigDigest)": ("application/octet-stream", goodConfig),
            "/v2/evil/bomb/blobs/\(bombDigest)": ("application/octet-stream", bomb),
        ])
        defer { reg.stop() }
        try await withDaemon(extraArgs: ["--max-decompressed-size", "256MiB"]) { d in
            let expectations: [(String, String)] = [
                ("cfgpath", "invalid"), ("upper", "invalid"), ("layerpath", "invalid"), ("diffid", "invalid"),
                ("huge", "larger than 8 MiB"), ("bomb", "expands beyond the limit of 256 MiB"),
            ]
            for (repo, message) in expectations {
                let pull = try await d.docker("pull", "\(reg.host)/evil/\(repo):1")
                #expect(pull.status != 0 && (pull.stderrText + pull.stdoutText).contains(message), "\(repo): \(pull.stdoutText)\(pull.stderrText)")
                #expect(try await d.client.ping() == "OK")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: victim) == ["keep"])
            #expect(try await d.docker("images", "-q").stdoutText.isEmpty)
            let tmp = try FileManager.default.contentsOfDirectory(atPath: d.root + "/data/tmp")
            #expect(tmp.isEmpty, "\(tmp)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: d.root + "/data/layers").isEmpty)
        }
    }
}
