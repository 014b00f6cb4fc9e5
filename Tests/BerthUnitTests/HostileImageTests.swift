import BerthArchive
import BerthImage
import BerthModels
import BerthStore
import BerthSystem
import Foundation
import Testing

/// Digests from images are used in file names: only `sha256:<64 lowercase hex>` may pass, and an
/// archive that tries anything else changes nothing outside the data root.
@Suite struct HostileImageTests {
    static let hostile = [
        "sha256:x/../../../../../../../tmp/victim",
        "sha256:../../../../tmp/victim",
        "sha256:/tmp/victim",
        "sha256:" + String(repeating: "a", count: 63) + "/",
        "sha256:" + String(repeating: "A", count: 64),
        "sha256:" + String(repeating: "a", count: 65),
        "sha256:" + String(repeating: "a", count: 63) + "\u{0}",
        "sha256:" + String(repeating: "a", count: 4096),
        "sha512:" + String(repeating: "a", count: 128),
        "SHA256:" + String(repeating: "a", count: 64),
        String(repeating: "a", count: 64),
        "sha256:", ":", "", "sha256:.", "sha256:..",
    ]

    @Test(arguments: hostile) func refusedAsDigest(_ text: String) {
        #expect(throws: DigestError.self) { try Digest(parsing: text) }
    }

    @Test func acceptedDigestRoundTrips() throws {
        let text = "sha256:" + String(repeating: "0123456789abcdef", count: 4)
        let d = try Digest(parsing: text)
        #expect(d.description == text && d.hex.count == 64 && d.short == "0123456789ab")
        let json = try JSONEncoder().encode([d])
        #expect(try JSONDecoder().decode([Digest].self, from: json) == [d])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([Digest].self, from: Data(#"["sha256:../x"]"#.utf8)) }
    }

    @Test func errorTextIsShortAndPrintable() {
        do { _ = try Digest(parsing: "sha256:" + String(repeating: "\u{1}", count: 500)); Issue.record("accepted") }
        catch { #expect(error.description.count < 140 && !error.description.contains("\u{1}")) }
    }

    struct Env {
        let base: String
        let root: String
        let victim: String
        let images: ImageStore
        let store: Store
    }

    func env() throws -> Env {
        let base = "/tmp/berth-unit-hostile-" + String(Identifier.random64().prefix(12))
        let root = base + "/data"
        let victim = base + "/victim"
        try FS.mkdirAll(root)
        try FS.mkdirAll(victim)
        try FS.write(victim + "/keep", "precious\n")
        let store = try Store(path: root + "/berth.db")
        return Env(base: base, root: root, victim: victim, images: try ImageStore(dataRoot: root, store: store), store: store)
    }

    func tar(_ entries: [(String, [UInt8])]) throws -> [UInt8] {
        var w = TarWriter(MemoryWriter())
        for (n, d) in entries { try w.write(TarEntry(name: n, kind: .file), data: d) }
        try w.finish()
        return w.sink.bytes
    }

    /// What must hold after a refused load: the victim untouched, nothing registered or staged.
    func expectUntouched(_ e: Env) throws {
        #expect(try String(contentsOfFile: e.victim + "/keep", encoding: .utf8) == "precious\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: e.victim) == ["keep"])
        #expect(try e.store.allImages().isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: e.root + "/layers").isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: e.root + "/tmp").isEmpty)
    }

    @Test(arguments: hostile) func dockerSaveWithHostileDiffID(_ diffID: String) async throws {
        let e = try env()
        defer { FS.removeAll(e.base) }
        let layer = try tar([("victim/new", Array("x".utf8))])
        let escaped = diffID.replacingOccurrences(of: "\u{0}", with: "\\u0000").replacingOccurrences(of: "/tmp/victim", with: e.victim)
        let cfg = Array(#"{"os":"linux","rootfs":{"type":"layers","diff_ids":["\#(escaped)"]}}"#.utf8)
        let path = e.root + "/tmp/in.tar"
        try FS.writeAtomically(path, Data(try tar([
            ("manifest.json", Array(#"[{"Config":"c.json","RepoTags":["acc/evil:1"],"Layers":["l.tar"]}]"#.utf8)),
            ("c.json", cfg), ("l.tar", layer),
        ])))
        do { _ = try await e.images.load(archive: path); Issue.record("a hostile diff id was accepted") }
        catch let err as BerthError { #expect(err.kind == .invalidArgument) }
        unlink(path)
        try expectUntouched(e)
    }

    @Test(arguments: ["sha256:../../../victim", "sha256:" + String(repeating: "F", count: 64), "md5:abc"])
    func ociLayoutWithHostileDescriptor(_ digest: String) async throws {
        let e = try env()
        defer { FS.removeAll(e.base) }
        let index = Array(#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(digest)"}]}"#.utf8)
        let path = e.root + "/tmp/in.tar"
        try FS.writeAtomically(path, Data(try tar([("oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8)), ("index.json", index)])))
        do { _ = try await e.images.load(archive: path); Issue.record("a hostile descriptor was accepted") }
        catch let err as BerthError { #expect(err.kind == .invalidArgument) }
        unlink(path)
        try expectUntouched(e)
    }

    /// The second attack of the report: a layer plants `diff -> host dir` under the name of the
    /// directory the next image's layer would be unpacked into. With digests checked, a layer's
    /// directory is named by its own hex only, and its contents stay inside it.
    @Test func plantedSymlinkIsNotFollowed() async throws {
        let e = try env()
        defer { FS.removeAll(e.base) }
        var w = TarWriter(MemoryWriter())
        try w.write(TarEntry(name: "diff", kind: .symlink, linkName: e.victim))
        try w.write(TarEntry(name: "diff/planted", kind: .file), data: Array("x".utf8))
        try w.finish()
        let l1 = w.sink.bytes
        let d1 = Digest.sha256(l1)
        let cfg = Array(#"{"os":"linux","rootfs":{"type":"layers","diff_ids":["\#(d1)"]}}"#.utf8)
        let path = e.root + "/tmp/in.tar"
        try FS.writeAtomically(path, Data(try tar([
            ("manifest.json", Array(#"[{"Config":"c.json","RepoTags":["acc/plant:1"],"Layers":["l.tar"]}]"#.utf8)),
            ("c.json", cfg), ("l.tar", l1),
        ])))
        _ = try await e.images.load(archive: path)
        #expect(try FileManager.default.contentsOfDirectory(atPath: e.victim) == ["keep"])
        #expect(FS.exists(e.images.layers.diffPath(d1) + e.victim + "/planted"))
    }
}
