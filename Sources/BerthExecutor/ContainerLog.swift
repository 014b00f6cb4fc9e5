#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import Foundation

/// Reads the monitor's k8s-file log (`<RFC3339Nano> stdout|stderr P|F <text>` per line) and
/// writes it out in Docker's log stream format: one stdcopy frame per message (raw for TTYs),
/// optionally prefixed with the timestamp. It works on bytes in place — no allocation per line,
/// timestamps parsed only when a filter or `-t` needs them — and `tail` reads backwards from the
/// end, never the whole file. The log spans the kept previous files and the current one
/// (`LogFiles`), read as one.
public struct ContainerLog: Sendable {
    public let files: LogFiles
    public init(files: LogFiles) { self.files = files }

    /// Where a reader stopped: an offset in the file with this inode.
    public struct Position: Sendable {
        public internal(set) var inode: ino_t
        public internal(set) var offset: Int64
    }

    public struct Options: Sendable {
        public var stdout = true
        public var stderr = true
        public var since: Int64 = 0
        public var until: Int64 = 0
        /// -1 for all.
        public var tail = -1
        public var timestamps = false
        public var details = false
        public var tty = false
        public init() {}
    }

    /// Turns log lines into output bytes; keeps partial lines (P) until their end (F) arrives.
    struct Formatter {
        let o: Options
        var out: [UInt8] = []
        /// A message still being assembled from partial lines, per stream (index 1 and 2).
        var pending: [[UInt8]] = [[], [], []]
        var pendingTime: [ArraySlice<UInt8>] = [[], [], []]

        init(_ o: Options) { self.o = o }

        /// Feeds complete lines from `data`; returns how many bytes were consumed.
        mutating func feed(_ data: UnsafeRawBufferPointer) -> Int {
            guard let base = data.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return 0 }
            var start = 0
            let count = data.count
            while start < count {
                guard let nlPtr = memchr(base + start, 0x0a, count - start) else { break }
                let nl = UnsafeRawPointer(nlPtr).assumingMemoryBound(to: UInt8.self) - base
                line(UnsafeBufferPointer(start: base + start, count: nl - start))
                start = nl + 1
            }
            return start
        }

        mutating func line(_ l: UnsafeBufferPointer<UInt8>) {
            // <timestamp> SP <stream> SP <flag> SP <text>
            guard let s1 = l.firstIndex(of: 0x20) else { return }
            var i = s1 + 1
            let isErr = i < l.count && l[i] == UInt8(ascii: "s") && i + 3 < l.count && l[i + 3] == UInt8(ascii: "e")
            while i < l.count && l[i] != 0x20 { i += 1 }
            guard i + 2 <= l.count else { return }
            let full = l[i + 1] == UInt8(ascii: "F")
            let textStart = min(i + 3, l.count)
            let stream: UInt8 = isErr ? 2 : 1
            if (stream == 1 && !o.stdout) || (stream == 2 && !o.stderr) { return }
            let text = UnsafeBufferPointer(rebasing: l[textStart...])
            let ts = UnsafeBufferPointer(rebasing: l[..<s1])
            if !full {
                if pending[Int(stream)].isEmpty { pendingTime[Int(stream)] = ArraySlice(ts) }
                pending[Int(stream)].append(contentsOf: text)
                // A line without end is given out in 16 KiB messages, as dockerd splits them
                // (without newlines, so the text reads back whole): a process that never ends
                // its line cannot make berthd assemble it in memory.
                while pending[Int(stream)].count >= Self.maxMessage {
                    let msg = Array(pending[Int(stream)].prefix(Self.maxMessage)), t = Array(pendingTime[Int(stream)])
                    pending[Int(stream)].removeFirst(Self.maxMessage)
                    t.withUnsafeBufferPointer { tb in msg.withUnsafeBufferPointer { mb in emit(stream, ts: tb, text: mb, extra: [], newline: false) } }
                }
                return
            }
            if pending[Int(stream)].isEmpty {
                emit(stream, ts: ts, text: text, extra: [])
            } else {
                var msg = pending[Int(stream)]
                msg.append(contentsOf: text)
                let t = Array(pendingTime[Int(stream)])
                pending[Int(stream)] = []
                t.withUnsafeBufferPointer { tb in msg.withUnsafeBufferPointer { mb in emit(stream, ts: tb, text: mb, extra: []) } }
            }
        }

        /// Docker's largest log message; longer lines are split into messages of this size.
        static let maxMessage = 16 * 1024

        mutating func emit(_ stream: UInt8, ts: UnsafeBufferPointer<UInt8>, text: UnsafeBufferPointer<UInt8>, extra: [UInt8],
                           newline: Bool = true) {
            var stamp: [UInt8] = []
            if o.since > 0 || o.until > 0 || o.timestamps {
                guard let t = Timestamp.parseRFC3339(String(decoding: ts, as: UTF8.self)) else { return }
                if o.since > 0 && t < o.since { return }
                if o.until > 0 && t > o.until { return }
                if o.timestamps { stamp = Array((Timestamp.rfc3339Fixed(nanos: t) + " ").utf8) }
            }
            let size = stamp.count + (o.details ? 1 : 0) + text.count + (newline ? 1 : 0)
            if !o.tty {
                // The stdcopy header, byte by byte: an array literal here would allocate per line.
                let n = UInt32(size)
                out.append(stream); out.append(0); out.append(0); out.append(0)
                out.append(UInt8(n >> 24)); out.append(UInt8((n >> 16) & 0xff))
                out.append(UInt8((n >> 8) & 0xff)); out.append(UInt8(n & 0xff))
            }
            out.append(contentsOf: stamp)
            if o.details { out.append(0x20) }
            out.append(contentsOf: text)
            if newline { out.append(0x0a) }
        }

        mutating func take() -> [UInt8] {
            let o = out
            out.removeAll(keepingCapacity: true)
            return o
        }
    }

    /// The offset where the last `n` messages begin (full lines, marked F), scanning backwards,
    /// and how many were found (fewer than `n` when the file starts first).
    func tailOffset(_ fd: Int32, size: Int64, lines n: Int) -> (offset: Int64, found: Int) {
        if n <= 0 { return (size, 0) }
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
                if buf[i] == 0x0a {
                    let lineStart = pos + Int64(i) + 1
                    if isFullLine(fd, at: lineStart) {
                        count += 1
                        if count == n { return (lineStart, count) }
                    }
                }
                i -= 1
            }
        }
        // The file's first line has no newline before it.
        if size > 0 && isFullLine(fd, at: 0) { count += 1 }
        return (0, count)
    }

    private func isFullLine(_ fd: Int32, at off: Int64) -> Bool {
        var b = [UInt8](repeating: 0, count: 64)
        let n = b.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 64, off_t(off)) }
        guard n > 0 else { return false }
        var spaces = 0
        for i in 0..<n where b[i] == 0x20 {
            spaces += 1
            if spaces == 2 { return i + 1 < n && b[i + 1] == UInt8(ascii: "F") }
        }
        return false
    }

    /// Formats `[from, to)` of the file into chunks of at most ~1 MiB handed to `sink`; returns
    /// the offset reached (the start of an incomplete last line, if any).
    func readRange(_ fd: Int32, from: Int64, to: Int64, formatter f: inout Formatter, sink: ([UInt8]) -> Void) -> Int64 {
        var pos = from
        let block = 1 << 20
        var buf = [UInt8](repeating: 0, count: block + 64 * 1024)
        var carry = 0
        while pos < to {
            let want = min(block, Int(to - pos))
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + carry, want, off_t(pos)) }
            if n <= 0 { break }
            pos += Int64(n)
            let total = carry + n
            let used = buf.withUnsafeBytes { f.feed(UnsafeRawBufferPointer(rebasing: $0[0..<total])) }
            carry = total - used
            if carry > 0 {
                if carry > 64 * 1024 { buf.append(contentsOf: [UInt8](repeating: 0, count: carry)) }  // a very long line
                buf.withUnsafeMutableBytes { p in p.baseAddress!.copyMemory(from: p.baseAddress! + used, byteCount: carry) }
            }
            if f.out.count >= 1 << 20 { sink(f.take()) }
        }
        if !f.out.isEmpty { sink(f.take()) }
        return pos - Int64(carry)
    }

    /// Formats what the log holds now, across its files; returns the output chunks and where
    /// the reading stopped in the current file.
    public func read(options: Options) -> (chunks: [[UInt8]], position: Position) {
        let cursor = Cursor(self, options: options)
        var chunks: [[UInt8]] = []
        while let chunk = cursor.next() { chunks.append(chunk) }
        return (chunks, cursor.position)
    }

    /// Reads the log's files in order, one formatted chunk (about 1 MiB of the file) per `next()`,
    /// so a reader pulls the log at the pace it sends it and never holds all of it.
    public final class Cursor {
        let log: ContainerLog
        var formatter: Formatter
        var files: [(fd: Int32, size: Int64)] = []
        /// Index of the current (monitor's) file in `files`, if it was there.
        var currentIndex: Int?
        var index = 0
        var offset: Int64 = 0
        /// Where reading stopped in the current file: where a follower goes on.
        public private(set) var position = Position(inode: 0, offset: 0)

        public init(_ log: ContainerLog, options: Options) {
            self.log = log
            formatter = Formatter(options)
            for name in log.files.ordered() {
                let fd = open(name, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { continue }
                var st = stat()
                fstat(fd, &st)
                if name == log.files.current { currentIndex = files.count; position.inode = st.st_ino }
                files.append((fd, Int64(st.st_size)))
            }
            // `tail` counts messages back from the end, across files.
            if options.tail >= 0 {
                var wanted = options.tail
                index = files.count
                while index > 0 {
                    let (off, found) = log.tailOffset(files[index - 1].fd, size: files[index - 1].size, lines: wanted)
                    index -= 1
                    offset = off
                    wanted -= found
                    if wanted <= 0 { break }
                }
                if index == files.count { offset = 0 }
            }
            // Files skipped whole still count as read up to their end.
            if let c = currentIndex, c < index { position.offset = files[c].size }
            if let c = currentIndex, c == index { position.offset = offset }
        }

        deinit { for f in files { close(f.fd) } }

        /// The next chunk of output; nil when everything there was has been read.
        public func next() -> [UInt8]? {
            while index < files.count {
                let (fd, size) = files[index]
                var window: Int64 = 1 << 20
                while offset < size {
                    let to = min(size, offset + window)
                    var out: [UInt8] = []
                    let reached = log.readRange(fd, from: offset, to: to, formatter: &formatter) { out += $0 }
                    if reached == offset {
                        if to < size { window *= 2; continue }  // a line longer than the window
                        break                                   // only an unfinished line is left
                    }
                    offset = reached
                    if index == currentIndex { position.offset = offset }
                    if !out.isEmpty { return out }
                }
                index += 1
                offset = 0
            }
            return nil
        }
    }

    /// What a follower needs to know when the log ends: the monitor's exit file, and whether the
    /// container stopped running.
    public struct Follow: Sendable {
        public let exitFile: String
        public let finished: @Sendable () -> Bool
        public init(exitFile: String, finished: @escaping @Sendable () -> Bool) { self.exitFile = exitFile; self.finished = finished }
    }

    /// The log as a sequence read on demand: what the files hold, then, with `follow`, what the
    /// container writes until it stops. Pulling is the back-pressure: nothing is read ahead.
    public func chunks(options: Options, follow: Follow?) -> Chunks { Chunks(log: self, options: options, follow: follow) }

    public struct Chunks: AsyncSequence, Sendable {
        public typealias Element = [UInt8]
        let log: ContainerLog
        let options: Options
        let follow: Follow?

        public func makeAsyncIterator() -> Iterator { Iterator(chunks: self) }

        public struct Iterator: AsyncIteratorProtocol {
            let chunks: Chunks
            var cursor: Cursor?
            var following: AsyncStream<[UInt8]>.Iterator?

            init(chunks: Chunks) { self.chunks = chunks }

            public mutating func next() async -> [UInt8]? {
                if following == nil {
                    let c = cursor ?? Cursor(chunks.log, options: chunks.options)
                    cursor = c
                    if let chunk = c.next() { return chunk }
                    cursor = nil
                    guard let f = chunks.follow else { return nil }
                    following = chunks.log.follow(from: c.position, formatter: c.formatter, exitFile: f.exitFile,
                                                  finished: f.finished).makeAsyncIterator()
                }
                return await following?.next()
            }
        }
    }

    /// Follows the log from `position` until `finished()` says the writer is done and all is read.
    /// Wake-ups come from inotify on the log's directory (writes and the monitor's switch to a new
    /// file) and on the exit file; nothing polls. When the monitor switches files, the old one is
    /// read to its end before the new one is begun. `formatter` carries a message whose first
    /// parts (P lines) were read before `position`.
    func follow(from position: Position, formatter: Formatter, exitFile: String,
                finished: @escaping @Sendable () -> Bool) -> AsyncStream<[UInt8]> {
        let files = self.files
        return AsyncStream { cont in
            let wake = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
            let logName = (files.current as NSString).lastPathComponent
            let logDir = (files.current as NSString).deletingLastPathComponent
            let exitDir = (exitFile as NSString).deletingLastPathComponent
            let exitName = (exitFile as NSString).lastPathComponent
            let w1 = try? FileWatcher.shared.watch(logDir, mask: UInt32(IN_MODIFY) | UInt32(IN_MOVED_TO)) { n in
                if n == logName { wake.continuation.yield() }
            }
            let w2 = try? FileWatcher.shared.watch(exitDir, mask: UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO)) { n in
                if n == exitName { wake.continuation.yield() }
            }
            let task = Task {
                var f = formatter
                var it = wake.stream.makeAsyncIterator()
                // The file being read: the one the position names (it may have been filed away
                // since), else the current one from its start.
                var off = position.offset
                var fd = Self.openFile(withInode: position.inode, among: files.ordered())
                while !Task.isCancelled {
                    // The monitor writes the exit file after the last output, so once it exists
                    // one more read gets everything.
                    let done = FS.exists(exitFile) || finished()
                    if fd < 0 { fd = open(files.current, O_RDONLY | O_CLOEXEC); off = 0 }
                    while fd >= 0 {
                        var st = stat()
                        fstat(fd, &st)
                        off = readRange(fd, from: off, to: Int64(st.st_size), formatter: &f) { cont.yield($0) }
                        var cur = stat()
                        guard stat(files.current, &cur) == 0, cur.st_ino != st.st_ino else { break }
                        // The monitor started a new file and no longer writes this one: it is
                        // complete, so go on with the new one.
                        close(fd)
                        fd = open(files.current, O_RDONLY | O_CLOEXEC)
                        off = 0
                    }
                    if done { break }
                    if await it.next() == nil { break }
                }
                if fd >= 0 { close(fd) }
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

    static func openFile(withInode inode: ino_t, among names: [String]) -> Int32 {
        for name in names.reversed() {
            let fd = open(name, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            var st = stat()
            if fstat(fd, &st) == 0 && st.st_ino == inode { return fd }
            close(fd)
        }
        return -1
    }
}
