#if canImport(Glibc)
import Glibc
#endif
import BerthArchive
import BerthClient
import BerthModels
import BerthSystem
import Foundation
import Testing

/// Hostile images, archives, API parameters and container processes against a real berthd:
/// each is refused or contained with a clear answer, berthd stays up, and nothing outside its
/// directories changes.
@Suite(.serialized, .enabled(if: Gate.runtime, Gate.runtimeReason)) struct HostileInputTests {
    /// A host directory the attacks aim at, with one file whose content and mode must survive.
    struct Victim {
        let dir: String
        init() throws {
            dir = "/tmp/berth-victim-" + String(Identifier.random64().prefix(10))
            try FS.mkdirAll(dir)
            try FS.write(dir + "/keep", "precious\n", mode: 0o600)
        }
        func expectUntouched() throws {
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["keep"])
            #expect(try String(contentsOfFile: dir + "/keep", encoding: .utf8) == "precious\n")
            var st = stat()
            #expect(stat(dir + "/keep", &st) == 0 && st.st_mode & 0o7777 == 0o600)
        }
        func remove() { FS.removeAll(dir) }
    }

    func expectAlive(_ d: TestDaemon) async throws {
        #expect(try await d.client.ping() == "OK")
    }

    @Test func hostileDiffIDsAreRefusedByLoad() async throws {
        let v = try Victim()
        defer { v.remove() }
        try await withDaemon { d in
            for bad in ["sha256:x/../../../../../../.." + v.dir, "sha256:" + String(repeating: "A", count: 64), "sha256:" + String(repeating: "a", count: 63) + "/"] {
                let cfg = #"{"os":"linux","rootfs":{"type":"layers","diff_ids":["\#(bad)"]}}"#
                let archive = try ImageArchive.layer([
                    (TarEntry(name: "manifest.json", kind: .file), Array(#"[{"Config":"c.json","RepoTags":["evil:1"],"Layers":["l.tar"]}]"#.utf8)),
                    (TarEntry(name: "c.json", kind: .file), Array(cfg.utf8)),
                    (TarEntry(name: "l.tar", kind: .file), try ImageArchive.layer([(TarEntry(name: "x", kind: .file), [1])])),
                ])
                let r = try await d.client.http.request(.POST, "/images/load?quiet=1", body: archive)
                #expect(r.status == 400 && r.text.contains("invalid"), "\(r.status) \(r.text)")
            }
            try await expectAlive(d)
            try v.expectUntouched()
        }
    }

    @Test func trapsInArchivesAreErrors() async throws {
        try await withDaemon { d in
            // Each of these once crashed berthd: a far-future created, a huge or negative member
            // size, a PAX record with a wrong length, a PAX mtime of 1e30.
            let far = try ImageArchive.layer([
                (TarEntry(name: "manifest.json", kind: .file), Array(#"[{"Config":"c.json","RepoTags":["far:1"],"Layers":[]}]"#.utf8)),
                (TarEntry(name: "c.json", kind: .file), Array(#"{"os":"linux","created":"9999-12-31T23:59:59Z","rootfs":{"type":"layers","diff_ids":[]}}"#.utf8)),
            ])
            let ok = try await d.client.http.request(.POST, "/images/load?quiet=1", body: far)
            #expect(ok.status == 200, "\(ok.text)")
            var huge = [UInt8](repeating: 0, count: 512)
            for (i, b) in "f".utf8.enumerated() { huge[i] = b }
            for i in 124..<136 { huge[i] = 0xff }
            huge[124] = 0x80
            huge[156] = UInt8(ascii: "0")
            for i in 148..<156 { huge[i] = 0x20 }
            let sum = huge.reduce(0) { $0 + Int($1) }
            for (i, b) in Array(String(format: "%06o\0 ", sum).utf8).enumerated() { huge[148 + i] = b }
            let pax = "5 mtime=1\n"  // the length says 5, the record is 10
            var paxHeader = [UInt8](repeating: 0, count: 512)
            for (i, b) in "pax".utf8.enumerated() { paxHeader[i] = b }
            for (i, b) in Array(String(format: "%011o\0", pax.utf8.count).utf8).enumerated() { paxHeader[124 + i] = b }
            paxHeader[156] = UInt8(ascii: "x")
            for i in 148..<156 { paxHeader[i] = 0x20 }
            let psum = paxHeader.reduce(0) { $0 + Int($1) }
            for (i, b) in Array(String(format: "%06o\0 ", psum).utf8).enumerated() { paxHeader[148 + i] = b }
            var paxBody = Array(pax.utf8)
            paxBody += [UInt8](repeating: 0, count: 512 - paxBody.count)
            for bad in [huge + [UInt8](repeating: 0, count: 1024), paxHeader + paxBody + [UInt8](repeating: 0, count: 1024)] {
                let r = try await d.client.http.request(.POST, "/images/load?quiet=1", body: bad)
                #expect(r.status == 400, "\(r.status) \(r.text)")
                try await expectAlive(d)
            }
        }
    }

    @Test func trapsInParametersAreErrors() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            #expect(try await d.docker("run", "-d", "--name", "hp", "busybox", "sleep", "300").status == 0)
            let logs = try await d.client.http.request(.GET, "/containers/hp/logs?stdout=1&since=99999999999")
            #expect(logs.status == 200)
            let kill = try await d.docker("kill", "-s", "RTMIN+2147483647", "hp")
            #expect(kill.status != 0 && kill.stderrText.contains("Invalid signal"), "\(kill.stderrText)")
            let mem = try await d.docker("run", "-d", "-m", "5000p", "busybox", "true")
            #expect(mem.status == 0, "\(mem.stderrText)")
            let cpus = try await d.docker("run", "--cpus", "100000", "busybox", "true")
            #expect(cpus.status != 0 && cpus.stderrText.contains("Range of CPUs"), "\(cpus.stderrText)")
            let commit = try await d.client.http.request(.POST, "/commit?container=hp&changes=ENV")
            #expect(commit.status == 400, "\(commit.text)")
            let importEnv = try await d.client.http.request(.POST, "/images/create?fromSrc=-&changes=LABEL", body: [])
            #expect(importEnv.status == 400, "\(importEnv.text)")
            try await expectAlive(d)
        }
    }

    /// An image whose /etc is a symlink to a host directory: starting it creates nothing there.
    @Test func etcSymlinkToTheHost() async throws {
        let v = try Victim()
        defer { v.remove() }
        try await withDaemon { d in
            let evil = try ImageArchive.layer([(TarEntry(name: "etc", kind: .symlink, linkName: v.dir), [])])
            // The busybox layer's /etc is a directory: the upper layer replaces it with the link.
            let archive = try ImageArchive.make(tag: "etclink:1", layers: [BusyboxImage.layer, evil], cmd: ["true"])
            _ = try await d.client.loadImage(archive)
            _ = try await d.docker("run", "--rm", "etclink:1")
            try v.expectUntouched()
            try await expectAlive(d)
        }
    }

    /// /etc/passwd a FIFO and /etc/group a device that never ends: berthd's user resolution
    /// neither hangs nor reads without end. (Only runs that fail in berthd's resolution are
    /// started: runc itself opens the container's /etc/passwd and would wait on the FIFO, as it
    /// does under dockerd.)
    @Test func passwdFifoAndEndlessGroup() async throws {
        try await withDaemon { d in
            let evil = try ImageArchive.layer([
                (TarEntry(name: "etc/passwd", kind: .fifo, mode: 0o644), []),
                (TarEntry(name: "etc/group", kind: .charDevice, mode: 0o644, devMajor: 1, devMinor: 5), []),
            ])
            let archive = try ImageArchive.make(tag: "fifo:1", layers: [BusyboxImage.layer, evil], cmd: ["id", "-u"])
            _ = try await d.client.loadImage(archive)
            let named = try await d.docker("run", "--rm", "--user", "nobody", "fifo:1")
            #expect(named.status != 0 && named.stderrText.contains("unable to find user nobody"), "\(named.stderrText)")
            let byID = try await d.docker("run", "--rm", "--user", "1234:staff", "fifo:1")
            #expect(byID.status != 0 && byID.stderrText.contains("unable to find group staff"), "\(byID.stderrText)")
            try await expectAlive(d)
        }
    }

    /// A container swaps the file `docker cp` writes for a symlink to a host file, as fast as it
    /// can: the host file's mode and content never change (chmod and chown go through the
    /// descriptor of the file written, never through its name).
    @Test func cpRaceWithSymlinkSwaps() async throws {
        let v = try Victim()
        defer { v.remove() }
        try await withDaemon { d in
            try await d.loadBusybox()
            let target = v.dir + "/keep"
            #expect(try await d.docker("run", "-d", "--name", "race", "busybox", "sh", "-c",
                                       "mkdir -p /x; while true; do rm -rf /x/f; ln -s \(target) /x/f; done").status == 0)
            // A large file keeps the window between creating it and setting its mode wide open.
            let local = d.root + "/f"
            try FS.writeAtomically(local, Data(repeating: 0x61, count: 16 << 20), mode: 0o777)
            for _ in 0..<8 { _ = try await d.docker("cp", local, "race:/x/f") }
            try v.expectUntouched()
            #expect(try await d.docker("rm", "-f", "race").status == 0)
            try await expectAlive(d)
        }
    }
}
