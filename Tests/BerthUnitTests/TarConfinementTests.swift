#if canImport(Glibc)
import Glibc
#endif
import BerthArchive
import BerthExecutor
import BerthSystem
import CBerthSys
import Foundation
import Testing

/// Hostile layer archives must never write outside the extraction root.
@Suite struct TarConfinementTests {
    let base: String
    let root: String
    let outside: String

    init() throws {
        base = "/tmp/berth-unit-tar-" + String(Identifier.random64().prefix(12))
        root = base + "/root"
        outside = base + "/outside"
        try FS.mkdirAll(root)
        try FS.mkdirAll(outside)
        try FS.write(outside + "/secret", "secret\n")
    }

    func archive(_ entries: [(TarEntry, String)]) throws -> [UInt8] {
        var w = TarWriter(MemoryWriter())
        for (e, data) in entries { try w.write(e, data: Array(data.utf8)) }
        try w.finish()
        return w.sink.bytes
    }

    func apply(_ bytes: [UInt8]) throws {
        var r = TarReader(MemoryReader(bytes))
        try LayerApplier(root: root).apply(&r)
    }

    @Test func dotDotIsRefused() throws {
        defer { FS.removeAll(base) }
        let t = try archive([(TarEntry(name: "../outside/evil", kind: .file), "x")])
        #expect(throws: BerthError.self) { try apply(t) }
        #expect(!FS.exists(outside + "/evil"))
    }

    @Test func absolutePathsLandInside() throws {
        defer { FS.removeAll(base) }
        try apply(try archive([(TarEntry(name: outside + "/abs", kind: .file), "x")]))
        #expect(!FS.exists(outside + "/abs"))
        #expect(FS.exists(root + outside + "/abs"))
    }

    @Test func absoluteSymlinkThenFileThroughIt() throws {
        defer { FS.removeAll(base) }
        try apply(try archive([
            (TarEntry(name: "link", kind: .symlink, linkName: outside), ""),
            (TarEntry(name: "link/pwned", kind: .file), "x"),
        ]))
        #expect(!FS.exists(outside + "/pwned"))
        #expect(FS.exists(root + outside + "/pwned"))
    }

    @Test func relativeSymlinkClimbingOut() throws {
        defer { FS.removeAll(base) }
        try apply(try archive([
            (TarEntry(name: "a/up", kind: .symlink, linkName: "../../../../../.."), ""),
            (TarEntry(name: "a/up/escaped", kind: .file), "x"),
        ]))
        #expect(!FS.exists("/escaped"))
        #expect(!FS.exists(base + "/escaped"))
        #expect(FS.exists(root + "/escaped"))
    }

    @Test func hardlinkOutsideIsRefused() throws {
        defer { FS.removeAll(base) }
        let t1 = try archive([(TarEntry(name: "h", kind: .hardlink, linkName: "../outside/secret"), "")])
        #expect(throws: BerthError.self) { try apply(t1) }
        // An absolute target resolves inside the root, where there is no such file.
        let t2 = try archive([(TarEntry(name: "h2", kind: .hardlink, linkName: outside + "/secret"), "")])
        #expect(throws: BerthError.self) { try apply(t2) }
        // Through a symlink: still resolved inside the root.
        let t3 = try archive([
            (TarEntry(name: "l", kind: .symlink, linkName: outside), ""),
            (TarEntry(name: "h3", kind: .hardlink, linkName: "l/secret"), ""),
        ])
        #expect(throws: BerthError.self) { try apply(t3) }
        var st = stat()
        stat(outside + "/secret", &st)
        #expect(st.st_nlink == 1)
    }

    @Test func whiteoutsBecomeOverlayWhiteouts() throws {
        defer { FS.removeAll(base) }
        try apply(try archive([
            (TarEntry(name: "d/", kind: .directory, mode: 0o755), ""),
            (TarEntry(name: "d/.wh..wh..opq", kind: .file), ""),
            (TarEntry(name: ".wh.gone", kind: .file), ""),
        ]))
        var st = stat()
        #expect(lstat(root + "/gone", &st) == 0)
        #expect((st.st_mode & S_IFMT) == S_IFCHR && st.st_rdev == 0)
        var v = [UInt8](repeating: 0, count: 2)
        let n = v.withUnsafeMutableBytes { berth_lgetxattr(root + "/d", "trusted.overlay.opaque", $0.baseAddress, 2) }
        #expect(n == 1 && v[0] == UInt8(ascii: "y"))
        #expect(!FS.exists(root + "/d/.wh..wh..opq"))
    }

    @Test func roundTripThroughArchiver() throws {
        defer { FS.removeAll(base) }
        let long = String(repeating: "n", count: 120)
        try apply(try archive([
            (TarEntry(name: "dir/", kind: .directory, mode: 0o750), ""),
            (TarEntry(name: "dir/" + long, kind: .file, mode: 0o640), "payload"),
            (TarEntry(name: "dir/sym", kind: .symlink, linkName: long), ""),
        ]))
        var w = TarWriter(MemoryWriter())
        try DirectoryArchiver(root: root).write(to: &w)
        try w.finish()
        var r = TarReader(MemoryReader(w.sink.bytes))
        var names: [String: TarEntry] = [:]
        var payload = ""
        while let e = try r.next() {
            names[e.name] = e
            if e.kind == .file { payload = String(decoding: try r.readAllData(), as: UTF8.self) }
        }
        #expect(names["dir/" + long]?.mode == 0o640)
        #expect(names["dir/sym"]?.linkName == long)
        #expect(payload == "payload")
    }

    /// A FIFO (or a symlink to outside) where a file is to be written is replaced, never opened.
    @Test func existingFifoOrSymlinkIsReplacedNotOpened() throws {
        defer { FS.removeAll(base) }
        #expect(mkfifo(root + "/pipe", 0o644) == 0)
        #expect(symlink(outside + "/secret", root + "/link") == 0)
        try apply(try archive([
            (TarEntry(name: "pipe", kind: .file, mode: 0o600), "data"),
            (TarEntry(name: "link", kind: .file, mode: 0o777), "data"),
        ]))
        var st = stat()
        #expect(lstat(root + "/pipe", &st) == 0 && st.st_mode & S_IFMT == S_IFREG)
        #expect(lstat(root + "/link", &st) == 0 && st.st_mode & S_IFMT == S_IFREG && st.st_mode & 0o777 == 0o777)
        #expect(stat(outside + "/secret", &st) == 0 && st.st_mode & 0o777 != 0o777)
        #expect(try String(contentsOfFile: outside + "/secret", encoding: .utf8) == "secret\n")
    }

    /// The archiver skips a FIFO found where a regular file was listed (it would block on open).
    @Test func archiverDoesNotOpenFifos() throws {
        defer { FS.removeAll(base) }
        #expect(mkfifo(root + "/p", 0o644) == 0)
        try FS.write(root + "/f", "x")
        var w = TarWriter(MemoryWriter())
        try DirectoryArchiver(root: root).write(to: &w)
        try w.finish()
        var r = TarReader(MemoryReader(w.sink.bytes))
        var kinds: [String: TarEntry.Kind] = [:]
        while let e = try r.next() { kinds[e.name] = e.kind }
        #expect(kinds["p"] == .fifo && kinds["f"] == .file)
    }

    /// `docker diff` walks a container's upper dir: a directory swapped for a symlink to a host
    /// directory shows as the link, never as the host directory's contents.
    @Test func changesDoNotFollowSymlinks() throws {
        defer { FS.removeAll(base) }
        #expect(symlink(outside, root + "/d") == 0)
        let changes = ContainerFiles.changes(upper: root, lowers: [], excluded: [])
        #expect(changes.map(\.path) == ["/d"])
    }

    /// The files berthd creates in a root filesystem stay in it when /etc is a link out.
    @Test func generatedFilesStayInside() throws {
        defer { FS.removeAll(base) }
        #expect(symlink(outside, root + "/etc") == 0)
        RootFS.createEmptyConfined(root: root, path: "etc/hosts")
        #expect(!FS.exists(outside + "/hosts"))
        try FS.mkdirAll(root + outside)
        RootFS.createEmptyConfined(root: root, path: "etc/hosts")
        #expect(!FS.exists(outside + "/hosts"))
        #expect(FS.exists(root + outside + "/hosts"))
    }

    /// /etc/passwd that is a FIFO reads as empty at once instead of waiting for a writer.
    @Test func passwdFifoReadsEmpty() throws {
        defer { FS.removeAll(base) }
        try FS.mkdirAll(root + "/etc")
        #expect(mkfifo(root + "/etc/passwd", 0o644) == 0)
        #expect(UserResolver.readConfined(root, "etc/passwd") == "")
    }
}
