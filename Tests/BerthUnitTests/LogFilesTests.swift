import BerthEngine
import BerthExecutor
import BerthModels
import BerthSystem
import Foundation
import Testing

/// Log limits, the rotation that keeps previous files, and reading a log spread over files.
@Suite struct LogFilesTests {
    @Test func sizesAsDockerWritesThem() {
        #expect(LogLimits.parseSize("1024") == 1024)
        #expect(LogLimits.parseSize("512k") == 512 << 10)
        #expect(LogLimits.parseSize("10m") == 10 << 20)
        #expect(LogLimits.parseSize("10MB") == 10 << 20)
        #expect(LogLimits.parseSize("1.5GiB") == 3 << 29)
        #expect(LogLimits.parseSize("-1") == 0)
        #expect(LogLimits.parseSize("abc") == nil)
        #expect(LogLimits.parseSize("10x") == nil)
        #expect(LogLimits.parseSize("") == nil)
    }

    @Test func optionsOverrideTheDaemonsAndBadOnesAreRefused() throws {
        let l = try LogLimits.defaults.applying(["max-size": "2k", "max-file": "3", "compress": "false"])
        #expect(l == LogLimits(maxSize: 2048, maxFiles: 3))
        // Drivers Berth does not have are refused as dockerd refuses unknown ones; none takes no options.
        #expect(throws: BerthError.self) { try LogOptions.limits(LogConfig(Type: "syslog", Config: [:]), defaults: .defaults) }
        #expect(try LogOptions.limits(LogConfig(Type: "none", Config: [:]), defaults: .defaults) == .defaults)
        #expect(throws: BerthError.self) { try LogOptions.limits(LogConfig(Type: "none", Config: ["max-size": "1k"]), defaults: .defaults) }
        #expect(throws: BerthError.self) { try LogLimits.defaults.applying(["bogus": "1"]) }
        #expect(throws: BerthError.self) { try LogLimits.defaults.applying(["max-size": "abc"]) }
        #expect(throws: BerthError.self) { try LogLimits.defaults.applying(["max-file": "0"]) }
        do { _ = try LogLimits.defaults.applying(["bogus": "1"], driver: "json-file") } catch let e as BerthError {
            #expect(e.message == "unknown log opt 'bogus' for json-file log driver")
        }
    }

    /// What conmon does when the file is full: a new file renamed over the old name.
    static func monitorSwitch(_ path: String) throws {
        try FS.write(path + ".tmp", "")
        #expect(rename(path + ".tmp", path) == 0)
    }

    static func append(_ path: String, _ lines: ClosedRange<Int>) throws {
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        h.seekToEndOfFile()
        for i in lines { h.write(Data("2026-11-29T10:00:00.000000000+00:00 stdout F line \(i)\n".utf8)) }
        try h.close()
    }

    static func text(_ chunks: [[UInt8]]) -> [String] {
        let (frames, _) = StdCopy.parse(chunks.flatMap { $0 })
        return frames.map { String(decoding: $0.1, as: UTF8.self) }
    }

    @Test func previousFilesAreKeptUpToTheLimitAndReadAsOne() throws {
        let dir = "/tmp/berth-unit-logs-" + String(Identifier.random64().prefix(8))
        try FS.mkdirAll(dir)
        defer { FS.removeAll(dir) }
        let files = LogFiles(current: dir + "/ctr.log")
        try FS.write(files.current, "")
        files.rotate(keeping: 3)
        try Self.append(files.current, 1...3)
        for batch in [4...6, 7...9, 10...12] {
            try Self.monitorSwitch(files.current)
            files.rotate(keeping: 3)
            try Self.append(files.current, batch)
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(names == ["ctr.log", "ctr.log.1", "ctr.log.2", "ctr.log.hold"])
        #expect(files.ordered().map { ($0 as NSString).lastPathComponent } == ["ctr.log.2", "ctr.log.1", "ctr.log"])

        let log = ContainerLog(files: files)
        var o = ContainerLog.Options()
        #expect(Self.text(log.read(options: o).chunks) == (4...12).map { "line \($0)\n" })
        o.tail = 5
        #expect(Self.text(log.read(options: o).chunks) == (8...12).map { "line \($0)\n" })
        o.tail = 3
        #expect(Self.text(log.read(options: o).chunks) == (10...12).map { "line \($0)\n" })
        o.tail = 100
        #expect(Self.text(log.read(options: o).chunks).count == 9)
        o.tail = 0
        #expect(log.read(options: o).chunks.isEmpty)

        // A switch berthd has not filed yet: the old file is still read, between .1 and the new one.
        try Self.monitorSwitch(files.current)
        try Self.append(files.current, 13...13)
        o.tail = -1
        #expect(Self.text(log.read(options: o).chunks) == (4...13).map { "line \($0)\n" })
        files.rotate(keeping: 3)
        #expect(Self.text(log.read(options: o).chunks) == (7...13).map { "line \($0)\n" })
    }

    /// Reading is chunked by about 1 MiB of file; a longer line still comes out whole, and an
    /// unfinished last line waits for its end.
    @Test func longLinesAndUnfinishedOnes() throws {
        let dir = "/tmp/berth-unit-logl-" + String(Identifier.random64().prefix(8))
        try FS.mkdirAll(dir)
        defer { FS.removeAll(dir) }
        let files = LogFiles(current: dir + "/ctr.log")
        let long = String(repeating: "x", count: 3 << 19)
        try FS.write(files.current, "2026-11-29T10:00:00.000000000+00:00 stdout F short\n"
                     + "2026-11-29T10:00:00.000000000+00:00 stderr F \(long)\n"
                     + "2026-11-29T10:00:00.000000000+00:00 stdout F unfinis")
        let (chunks, position) = ContainerLog(files: files).read(options: ContainerLog.Options())
        let (frames, rest) = StdCopy.parse(chunks.flatMap { $0 })
        #expect(rest.isEmpty)
        #expect(frames.map(\.0) == [1, 2])
        #expect(frames.last?.1.count == long.utf8.count + 1)
        #expect(position.offset == Int64(2 * 45 + 6 + long.utf8.count + 1))
    }

    @Test func followCrossesAFileSwitchWithoutLosingLines() async throws {
        let dir = "/tmp/berth-unit-logf-" + String(Identifier.random64().prefix(8))
        try FS.mkdirAll(dir + "/exits")
        defer { FS.removeAll(dir) }
        let files = LogFiles(current: dir + "/ctr.log")
        try FS.write(files.current, "")
        files.rotate(keeping: 2)
        try Self.append(files.current, 1...2)
        let chunks = ContainerLog(files: files).chunks(options: ContainerLog.Options(),
                                                       follow: ContainerLog.Follow(exitFile: dir + "/exits/x") { false })
        var it = chunks.makeAsyncIterator()
        var out: [[UInt8]] = []
        if let first = await it.next() { out.append(first) }
        #expect(Self.text(out) == ["line 1\n", "line 2\n"])
        // Written to the old file after the first read, then the switch, then more in the new one.
        try Self.append(files.current, 3...4)
        try Self.monitorSwitch(files.current)
        files.rotate(keeping: 2)
        try Self.append(files.current, 5...6)
        try FS.write(dir + "/exits/x", "0")
        while let chunk = await it.next() { out.append(chunk) }
        #expect(Self.text(out) == (1...6).map { "line \($0)\n" })
    }

    /// A message split into partial lines (P) across the end of what was there and what came
    /// later reaches a follower whole.
    @Test func followKeepsAPartialMessageTogether() async throws {
        let dir = "/tmp/berth-unit-logp-" + String(Identifier.random64().prefix(8))
        try FS.mkdirAll(dir + "/exits")
        defer { FS.removeAll(dir) }
        let files = LogFiles(current: dir + "/ctr.log")
        try FS.write(files.current, "2026-11-29T10:00:00.000000000+00:00 stdout F one\n"
                     + "2026-11-29T10:00:00.000000000+00:00 stdout P two-a\n")
        let chunks = ContainerLog(files: files).chunks(options: ContainerLog.Options(),
                                                       follow: ContainerLog.Follow(exitFile: dir + "/exits/x") { false })
        // What is there now comes first: the whole message "one" and the start of the next.
        var it = chunks.makeAsyncIterator()
        var out: [[UInt8]] = []
        if let first = await it.next() { out.append(first) }
        #expect(Self.text(out) == ["one\n"])
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: files.current))
        h.seekToEndOfFile()
        h.write(Data("2026-11-29T10:00:01.000000000+00:00 stdout F -b\n".utf8))
        try h.close()
        try FS.write(dir + "/exits/x", "0")
        while let chunk = await it.next() { out.append(chunk) }
        #expect(Self.text(out) == ["one\n", "two-a-b\n"])
    }

    /// A line that never ends comes out in 16 KiB messages (as dockerd splits them), which read
    /// back as the whole text: berthd never assembles an unbounded line.
    @Test func endlessLineIsSplitIn16KiBMessages() throws {
        let dir = "/tmp/berth-unit-logl-" + String(Identifier.random64().prefix(8))
        try FS.mkdirAll(dir)
        defer { FS.removeAll(dir) }
        let files = LogFiles(current: dir + "/ctr.log")
        var log = ""
        var expected = ""
        for i in 0..<40 {
            let piece = String(repeating: Character(String(UnicodeScalar(UInt8(97 + i % 26)))), count: 1000)
            log += "2026-11-29T10:00:00.000000000+00:00 stdout P \(piece)\n"
            expected += piece
        }
        log += "2026-11-29T10:00:00.000000000+00:00 stdout F end\n"
        expected += "end\n"
        try FS.write(files.current, log)
        let messages = Self.text(ContainerLog(files: files).read(options: ContainerLog.Options()).chunks)
        #expect(messages.count == 3)
        #expect(messages.allSatisfy { $0.utf8.count <= 16 * 1024 + 1 })
        #expect(messages.joined() == expected)
    }
}
