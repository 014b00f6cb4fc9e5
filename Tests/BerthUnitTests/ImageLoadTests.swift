import BerthArchive
import BerthModels
import BerthImage
import BerthStore
import BerthSystem
import Foundation
import Testing

/// Loading archives into a real store and layer directory (no daemon).
@Suite struct ImageLoadTests {
    struct Env {
        let root: String
        let store: Store
        let images: ImageStore
    }

    func env() throws -> Env {
        let root = "/tmp/berth-unit-load-" + String(Identifier.random64().prefix(12))
        try FS.mkdirAll(root)
        let store = try Store(path: root + "/berth.db")
        return Env(root: root, store: store, images: try ImageStore(dataRoot: root, store: store))
    }

    func layer(_ files: [String: String]) throws -> [UInt8] {
        var w = TarWriter(MemoryWriter())
        for (n, c) in files.sorted(by: { $0.key < $1.key }) { try w.write(TarEntry(name: n, kind: .file), data: Array(c.utf8)) }
        try w.finish()
        return w.sink.bytes
    }

    func config(_ diffIDs: [Digest]) -> [UInt8] {
        let ids = diffIDs.map { "\"\($0)\"" }.joined(separator: ",")
        return Array(#"{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[\#(ids)]}}"#.utf8)
    }

    func write(_ env: Env, _ entries: [(String, [UInt8])]) throws -> String {
        var w = TarWriter(MemoryWriter())
        for (n, d) in entries { try w.write(TarEntry(name: n, kind: .file), data: d) }
        try w.finish()
        let path = env.root + "/archive.tar"
        try FS.writeAtomically(path, Data(w.sink.bytes))
        return path
    }

    @Test func ociLayoutWithTwoLayers() async throws {
        let e = try env()
        defer { FS.removeAll(e.root) }
        let l1 = try layer(["a.txt": "one"]), l2 = try layer(["b.txt": "two", ".wh.a.txt": ""])
        let d1 = Digest.sha256(l1), d2 = Digest.sha256(l2)
        let cfg = config([d1, d2])
        let cd = Digest.sha256(cfg)
        let manifest = Array(#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(cd)"},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\#(d1)"},{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\#(d2)"}]}"#.utf8)
        let md = Digest.sha256(manifest)
        let index = Array(#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(md)","annotations":{"io.containerd.image.name":"docker.io/acc/oci:1"}}]}"#.utf8)
        func blob(_ d: Digest) -> String { "blobs/sha256/" + d.hex }
        let path = try write(e, [("oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8)), (blob(d1), l1), (blob(d2), l2),
                                 (blob(cd), cfg), (blob(md), manifest), ("index.json", index)])
        let lines = try await e.images.load(archive: path)
        #expect(lines == ["Loaded image: acc/oci:1"])
        let img = try e.images.resolve("acc/oci:1")
        #expect(img.id == cd.description)
        let dirs = try e.images.layerPaths(img.id)
        #expect(dirs.count == 2)
        #expect(FS.exists(dirs[0] + "/a.txt") && FS.exists(dirs[1] + "/b.txt"))
        #expect(FS.exists(dirs[1] + "/a.txt"))  // the whiteout, as a 0:0 device
        // Loading the same archive again reuses the layers and keeps one image.
        _ = try await e.images.load(archive: path)
        #expect(try e.store.allImages().count == 1)
        #expect(try e.store.allLayers().count == 2)
        // Deleting it removes layers and blobs.
        let items = try await e.images.remove("acc/oci:1", force: false)
        #expect(items.first?.Untagged == "acc/oci:1")
        #expect(try e.store.allLayers().isEmpty)
        #expect(!FS.exists(dirs[0]))
    }

    @Test func corruptedLayerLeavesNothing() async throws {
        let e = try env()
        defer { FS.removeAll(e.root) }
        let l1 = try layer(["a.txt": "one"])
        let wrong = try Digest(parsing: "sha256:" + String(repeating: "0", count: 64))
        let cfg = config([wrong])
        let cfgName = Digest.sha256(cfg).hex + ".json"
        let path = try write(e, [("l/layer.tar", l1), (cfgName, cfg),
                                 ("manifest.json", Array(#"[{"Config":"\#(cfgName)","RepoTags":["acc/bad:1"],"Layers":["l/layer.tar"]}]"#.utf8))])
        await #expect(throws: BerthError.self) { _ = try await e.images.load(archive: path) }
        #expect(try e.store.allImages().isEmpty)
        #expect(try e.store.allLayers().isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: e.root + "/layers").isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: e.root + "/tmp").isEmpty)
    }

    func gzip(_ bytes: [UInt8]) throws -> [UInt8] { try Subprocess.runBlocking(["gzip", "-c"], input: bytes).stdout }

    @Test func gzipLayersAndArchives() async throws {
        let e = try env()
        defer { FS.removeAll(e.root) }
        let l1 = try layer(["z.txt": String(repeating: "zip", count: 10000)])
        let cfg = config([Digest.sha256(l1)])
        let cfgName = Digest.sha256(cfg).hex + ".json"
        // A gzip layer inside the archive, and then the whole archive gzipped as well.
        let path = try write(e, [("l/layer.tar", try gzip(l1)), (cfgName, cfg),
                                 ("manifest.json", Array(#"[{"Config":"\#(cfgName)","RepoTags":["acc/gz:1"],"Layers":["l/layer.tar"]}]"#.utf8))])
        try FS.writeAtomically(path + ".gz", Data(try gzip(Array(try FS.read(path)))))
        #expect(try await e.images.load(archive: path + ".gz") == ["Loaded image: acc/gz:1"])
        let dirs = try e.images.layerPaths(try e.images.resolve("acc/gz:1").id)
        #expect(try String(contentsOfFile: dirs[0] + "/z.txt", encoding: .utf8).count == 30000)
        // The stored original is the uncompressed tar, whose digest is the diff id.
        let chain = try e.store.allLayers()[0].chain
        #expect(Digest.sha256(Array(try FS.read(e.images.layers.tarPath(chain)))) == Digest.sha256(l1))
    }

    @Test func notAnArchive() async throws {
        let e = try env()
        defer { FS.removeAll(e.root) }
        let path = try write(e, [("hello.txt", Array("hi".utf8))])
        await #expect(throws: BerthError.self) { _ = try await e.images.load(archive: path) }
    }
}

extension ImageLoadTests {
    /// A pull in progress pins its layers: an rmi meanwhile must not collect them.
    @Test func pinnedLayersSurviveImageRemoval() async throws {
        let e = try env()
        defer { FS.removeAll(e.root) }
        let l1 = try layer(["keep.txt": "pinned"])
        let d1 = Digest.sha256(l1)
        let cfg = config([d1])
        let path = try write(e, [("manifest.json", Array(#"[{"Config":"c.json","RepoTags":["acc/pin:1"],"Layers":["l.tar"]}]"#.utf8)),
                                 ("c.json", cfg), ("l.tar", l1)])
        _ = try await e.images.load(archive: path)
        await e.images.pin([d1])
        _ = try await e.images.remove("acc/pin:1", force: false)
        #expect(try e.store.layer(d1.description) != nil)
        await e.images.unpin([d1])
        // Unpinned, the next collection takes it.
        _ = try await e.images.load(archive: path)
        _ = try await e.images.remove("acc/pin:1", force: false)
        #expect(try e.store.layer(d1.description) == nil)
    }
}
