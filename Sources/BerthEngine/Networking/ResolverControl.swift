import Foundation
import NIOCore

/// berthd ↔ resolver process: one JSON object per line on the unix socket
/// `<exec-root>/resolver.sock` (root only), a reply line for each request.
struct ResolverRequest: Codable, Sendable {
    enum Op: String, Codable { case serve, stop, list }
    var op: Op
    var id: String = ""
    var sandbox: String = ""
    var upstreams: [String] = []
}

struct ResolverReply: Codable, Sendable {
    var error: String?
    var ids: [String]?
}

enum ResolverPaths {
    static func socket(execRoot: String) -> String { execRoot + "/resolver.sock" }
    static func log(execRoot: String) -> String { execRoot + "/resolver.log" }
    /// The longest line either side takes (a request names one container).
    static let maxLine = 64 * 1024
}

/// Splits a stream into lines (without the newline); a line longer than `ResolverPaths.maxLine`
/// closes the connection.
struct LineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let nl = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > ResolverPaths.maxLine { throw ResolverLineTooLong() }
            return .needMoreData
        }
        let line = buffer.readSlice(length: nl - buffer.readerIndex)!
        buffer.moveReaderIndex(forwardBy: 1)
        context.fireChannelRead(wrapInboundOut(line))
        return .continue
    }
}

struct ResolverLineTooLong: Error {}
