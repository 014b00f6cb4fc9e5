import BerthArchive
import BerthModels
import BerthImage
import BerthSystem
import Foundation

/// A busybox image in docker-save format, made here from Debian's busybox-static (never downloaded).
enum BusyboxImage {
    static let archive: [UInt8] = {
        do { return try build() } catch { fatalError("cannot build the busybox fixture: \(error)") }
    }()

    static func buildLayer() throws -> [UInt8] {
        let busybox = "/bin/busybox"
        let binary = Array(try FS.read(busybox))
        let applets = try Subprocess.runBlocking([busybox, "--list-full"]).stdoutText
            .split(separator: "\n").map(String.init).filter { $0 != "bin/busybox" }.sorted()
        var layer = TarWriter(MemoryWriter())
        var dirs = Set<String>()
        func dir(_ d: String, _ mode: UInt32 = 0o755) throws {
            guard dirs.insert(d).inserted else { return }
            try layer.write(TarEntry(name: d + "/", kind: .directory, mode: mode))
        }
        for d in ["bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "usr", "usr/bin", "usr/sbin", "sbin", "var", "var/tmp"] {
            try dir(d, d == "tmp" || d == "var/tmp" ? 0o1777 : d == "root" ? 0o700 : 0o755)
        }
        try layer.write(TarEntry(name: "bin/busybox", kind: .file, mode: 0o755), data: binary)
        for a in applets {
            let parent = a.split(separator: "/").dropLast().joined(separator: "/")
            if !parent.isEmpty { try dir(parent) }
            let depth = a.split(separator: "/").count - 1
            let target = depth == 1 && a.hasPrefix("bin/") ? "busybox" : String(repeating: "../", count: depth) + "bin/busybox"
            try layer.write(TarEntry(name: a, kind: .symlink, mode: 0o777, linkName: target))
        }
        try layer.write(TarEntry(name: "etc/passwd", kind: .file, mode: 0o644),
                        data: Array("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n".utf8))
        try layer.write(TarEntry(name: "etc/group", kind: .file, mode: 0o644), data: Array("root:x:0:\nnogroup:x:65534:\n".utf8))
        try layer.finish()
        return layer.sink.bytes
    }

    static let layer: [UInt8] = {
        do { return try buildLayer() } catch { fatalError("cannot build the busybox fixture: \(error)") }
    }()

    static func build() throws -> [UInt8] { try ImageArchive.make(tag: "busybox:latest", layers: [layer]) }
}

/// docker-save archives made in the test: a config over the given layers (bottom first).
enum ImageArchive {
    static func make(tag: String, layers: [[UInt8]], cmd: [String] = ["sh"]) throws -> [UInt8] {
        let diffIDs = layers.map { Digest.sha256($0) }
        let cmdJSON = String(decoding: try JSONEncoder().encode(cmd), as: UTF8.self)
        let config = """
        {"architecture":"\(ImageStore.arch)","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":\(cmdJSON)},\
        "created":"2000-01-01T00:00:00Z","history":[{"created":"2000-01-01T00:00:00Z","created_by":"berth test fixture"}],\
        "os":"linux","rootfs":{"type":"layers","diff_ids":[\(diffIDs.map { "\"\($0)\"" }.joined(separator: ","))]}}
        """
        let configBytes = Array(config.utf8)
        let configName = Digest.sha256(configBytes).hex + ".json"
        var out = TarWriter(MemoryWriter())
        for (d, l) in zip(diffIDs, layers) {
            try out.write(TarEntry(name: d.hex + "/", kind: .directory, mode: 0o755))
            try out.write(TarEntry(name: d.hex + "/layer.tar", kind: .file), data: l)
        }
        try out.write(TarEntry(name: configName, kind: .file), data: configBytes)
        let layerNames = diffIDs.map { "\"\($0.hex)/layer.tar\"" }.joined(separator: ",")
        try out.write(TarEntry(name: "manifest.json", kind: .file),
                      data: Array(#"[{"Config":"\#(configName)","RepoTags":["\#(tag)"],"Layers":[\#(layerNames)]}]"#.utf8))
        try out.finish()
        return out.sink.bytes
    }

    /// A layer of the given entries (data for regular files).
    static func layer(_ entries: [(TarEntry, [UInt8])]) throws -> [UInt8] {
        var w = TarWriter(MemoryWriter())
        for (e, d) in entries { try w.write(e, data: d) }
        try w.finish()
        return w.sink.bytes
    }
}

/// A static program built from C source with the system gcc, to put in a test image.
enum StaticProbe {
    static func build(_ source: String) -> [UInt8] {
        let dir = "/tmp/berth-probe-" + String(Identifier.random64().prefix(8))
        defer { FS.removeAll(dir) }
        do {
            try FS.mkdirAll(dir)
            try FS.write(dir + "/probe.c", source)
            let cc = try Subprocess.runBlocking(["gcc", "-static", "-O1", "-o", dir + "/probe", dir + "/probe.c"])
            guard cc.status == 0 else { fatalError("gcc: \(cc.stderrText)") }
            return Array(try FS.read(dir + "/probe"))
        } catch { fatalError("cannot build the probe: \(error)") }
    }

    /// Answers every UDP datagram on the port given with the same bytes.
    static let udpEcho: [UInt8] = build("""
        #include <netinet/in.h>
        #include <stdlib.h>
        #include <sys/socket.h>
        int main(int argc, char **argv) {
            int s = socket(AF_INET, SOCK_DGRAM, 0);
            struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
            if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) return 1;
            char buf[2048];
            for (;;) {
                struct sockaddr_in from; socklen_t len = sizeof from;
                long n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
                if (n >= 0) sendto(s, buf, n, 0, (struct sockaddr *)&from, len);
            }
        }
        """)
}
