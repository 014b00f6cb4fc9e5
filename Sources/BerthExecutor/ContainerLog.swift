#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import Foundation

/// One message of a container's log. `bytes` ends with a newline unless the process wrote a
/// partial line (a prompt, say).
public struct LogEntry: Sendable {
    public let stream: UInt8
    public let timestamp: Int64
    public let bytes: [UInt8]
}

/// Reads the monitor's k8s-file log (`<RFC3339Nano> stdout|stderr P|F <text>` per line) as
/// Docker log messages. `--tail` reads backwards from the end, never the whole file.
public struct ContainerLog: Sendable {
    public let path: String
    public init(path: String) { self.path = path }

    public struct Options: Sendable {
        public var stdout = true
        public var stderr = true
        public var since: Int64 = 0
        public var until: Int64 = 0
        /// -1 for all.
        public var tail = -1
        public init() {}
    }

    static func parse(_ line: ArraySlice<UInt8>) -> (ts: Int64, stream: UInt8, full: Bool, text: ArraySlice<UInt8>)? {
        guard let s1 = line.firstIndex(of: UInt8(ascii: " ")) else { return nil }
        let rest1 = line[(s1 + 1)...]
        guard let s2 = rest1.firstIndex(of: UInt8(ascii: " ")) else { return nil }
        let rest2 = line[(s2 + 1)...]
        guard let flag = rest2.first else { return nil }
        let textStart = rest2.startIndex + 2
        let text = textStart <= line.endIndex ? line[min(textStart, line.endIndex)...] : line[line.endIndex...]
        let streamName = line[(s1 + 1)..<s2]
        let stream: UInt8 = streamName.elementsEqual("stderr".utf8) ? 2 : 1
        guard let ts = Timestamp.parseRFC3339(String(decoding: line[line.startIndex..<s1], as: UTF8.self)) else { return nil }
        return (ts, stream, flag == UInt8(ascii: "F"), text)
    }

    /// Parses complete lines from `data`; returns the entries and how many bytes were consumed.
    static func entries(_ data: [UInt8], pending: inout [Int: (Int64, [UInt8])], options: Options) -> ([LogEntry], Int) {
        var out: [LogEntry] = []
        var start = 0
        while let nl = data[start...].firstIndex(of: UInt8(ascii: "\n")) {
            let line = data[start..<nl]
            start = nl + 1
            guard let p = parse(line) else { continue }
            let key = Int(p.stream)
            var acc = pending[key] ?? (p.ts, [])
            acc.1.append(contentsOf: p.text)
            if !p.full { pending[key] = acc; continue }
            pending[key] = nil
            acc.1.append(UInt8(ascii: "\n"))
            if p.stream == 1 && !options.stdout { continue }
            if p.stream == 2 && !options.stderr { continue }
            if options.since > 0 && acc.0 < options.since { continue }
            if options.until > 0 && acc.0 > options.until { continue }
            out.append(LogEntry(stream: p.stream, timestamp: acc.0, bytes: acc.1))
        }
        return (out, start)
    }

    /// The offset where the last `n` full lines begin, scanning backwards in blocks.
    func tailOffset(_ fd: Int32, size: Int64, lines n: Int) -> Int64 {
        if n <= 0 { return size }
        var pos = size
        var count = 0
        let block = 64 * 1024
        var buf = [UInt8](repeating: 0, count: block)
        var first = true
        while pos > 0 {
            let len = Int(min(Int64(block), pos))
            pos -= Int64(len)
            _ = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, len, off_t(pos)) }
            var i = len - 1
            if first { i -= 1; first = false }  // the file's final newline ends the last line
            while i >= 0 {
                if buf[i] == UInt8(ascii: "\n") {
                    // A line that ends a message is marked F; count those.
                    let lineStart = pos + Int64(i) + 1
                    if isFullLine(fd, at: lineStart) {
                        count += 1
                        if count == n { return lineStart }
                    }
                }
                i -= 1
            }
        }
        return 0
    }

    private func isFullLine(_ fd: Int32, at off: Int64) -> Bool {
        var b = [UInt8](repeating: 0, count: 64)
        let n = b.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 64, off_t(off)) }
        guard n > 0 else { return false }
        var spaces = 0
        for i in 0..<n where b[i] == UInt8(ascii: " ") {
            spaces += 1
            if spaces == 2 { return i + 1 < n && b[i + 1] == UInt8(ascii: "F") }
        }
        return false
    }

    /// Reads what is in the file now; returns the entries and the offset reached.
    public func read(options: Options) -> (entries: [LogEntry], offset: Int64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return ([], 0) }
        defer { close(fd) }
        var st = stat()
        fstat(fd, &st)
        let size = Int64(st.st_size)
        let from = options.tail >= 0 ? tailOffset(fd, size: size, lines: options.tail) : 0
        var pending: [Int: (Int64, [UInt8])] = [:]
        return readRange(fd, from: from, to: size, options: options, pending: &pending)
    }

    func readRange(_ fd: Int32, from: Int64, to: Int64, options: Options, pending: inout [Int: (Int64, [UInt8])]) -> ([LogEntry], Int64) {
        var out: [LogEntry] = []
        var pos = from
        var carry: [UInt8] = []
        let block = 1 << 20
        var buf = [UInt8](repeating: 0, count: block)
        while pos < to {
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, min(block, Int(to - pos)), off_t(pos)) }
            if n <= 0 { break }
            pos += Int64(n)
            carry.append(contentsOf: buf[0..<n])
            let (e, used) = Self.entries(carry, pending: &pending, options: options)
            out += e
            carry.removeFirst(used)
        }
        return (out, pos - Int64(carry.count))
    }

    /// Follows the log from `offset` until `finished()` says the writer is done and all is read.
    /// Wake-ups come from inotify on the log file and on the exit file; nothing polls.
    /// Each element is what one read found (so a live stream is flushed as it grows).
    public func follow(from offset: Int64, options: Options, exitFile: String,
                       finished: @escaping @Sendable () -> Bool) -> AsyncStream<[LogEntry]> {
        let path = self.path
        return AsyncStream { cont in
            let wake = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
            let dir = (exitFile as NSString).deletingLastPathComponent
            let name = (exitFile as NSString).lastPathComponent
            let w1 = try? FileWatcher.shared.watch(path, mask: UInt32(IN_MODIFY)) { _ in wake.continuation.yield() }
            let w2 = try? FileWatcher.shared.watch(dir, mask: UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO)) { n in
                if n == name { wake.continuation.yield() }
            }
            let task = Task {
                var off = offset
                var pending: [Int: (Int64, [UInt8])] = [:]
                var it = wake.stream.makeAsyncIterator()
                while !Task.isCancelled {
                    // The monitor writes the exit file after the last output, so once it exists
                    // one more read gets everything.
                    let done = FS.exists(exitFile) || finished()
                    let fd = open(path, O_RDONLY | O_CLOEXEC)
                    if fd >= 0 {
                        var st = stat()
                        fstat(fd, &st)
                        if Int64(st.st_size) < off { off = 0 }  // the monitor truncated the file
                        let (e, reached) = readRange(fd, from: off, to: Int64(st.st_size), options: options, pending: &pending)
                        close(fd)
                        off = reached
                        if !e.isEmpty { cont.yield(e) }
                    }
                    if done { break }
                    if await it.next() == nil { break }
                }
                cont.finish()
            }
            cont.onTermination = { _ in
                task.cancel()
                wake.continuation.finish()
                if let w1 { FileWatcher.shared.unwatch(w1) }
                if let w2 { FileWatcher.shared.unwatch(w2) }
            }
        }
    }
}
