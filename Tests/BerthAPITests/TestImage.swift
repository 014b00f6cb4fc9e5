import BerthArchive
import BerthImage
import BerthModels
import Foundation

/// `fake:latest`: a docker-save archive of one small layer (/etc/passwd, /etc/group, a file in
/// /srv) whose config names a command the fake runtime plays. Regular files only, so loading
/// it needs no privileges.
enum FakeImage {
    static func archive(tag: String = "fake:latest", cmd: [String] = ["sleep"], healthcheck: HealthcheckConfig? = nil) throws -> [UInt8] {
        var layer = TarWriter(MemoryWriter())
        for d in ["etc/", "srv/", "tmp/"] { try layer.write(TarEntry(name: d, kind: .directory, mode: 0o755)) }
        try layer.write(TarEntry(name: "etc/passwd", kind: .file, mode: 0o644), data: Array("root:x:0:0:root:/root:/bin/sh\n".utf8))
        try layer.write(TarEntry(name: "etc/group", kind: .file, mode: 0o644), data: Array("root:x:0:\n".utf8))
        try layer.write(TarEntry(name: "srv/hello.txt", kind: .file, mode: 0o644), data: Array("hello\n".utf8))
        try layer.finish()
        let layerBytes = layer.sink.bytes
        let diffID = Digest.sha256(layerBytes)

        struct Config: Encodable {
            struct Inner: Encodable { var Env: [String]; var Cmd: [String]; var Healthcheck: HealthcheckConfig? }
            struct RootFS: Encodable { var type = "layers"; var diff_ids: [String] }
            var architecture = ImageStore.arch
            var os = "linux"
            var created = "2001-02-03T04:05:06Z"
            var config: Inner
            var rootfs: RootFS
        }
        let config = Array(try JSONEncoder().encode(Config(config: .init(Env: ["PATH=/bin"], Cmd: cmd, Healthcheck: healthcheck),
                                                          rootfs: .init(diff_ids: [diffID.description]))))
        let configName = Digest.sha256(config).hex + ".json"
        struct ManifestEntry: Encodable { var Config: String; var RepoTags: [String]; var Layers: [String] }
        let manifest = try JSONEncoder().encode([ManifestEntry(Config: configName, RepoTags: [tag], Layers: [diffID.hex + "/layer.tar"])])

        var out = TarWriter(MemoryWriter())
        try out.write(TarEntry(name: diffID.hex + "/layer.tar", kind: .file), data: layerBytes)
        try out.write(TarEntry(name: configName, kind: .file), data: config)
        try out.write(TarEntry(name: "manifest.json", kind: .file), data: Array(manifest))
        try out.finish()
        return out.sink.bytes
    }
}
