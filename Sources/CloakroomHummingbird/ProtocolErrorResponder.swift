import Foundation
import HTTPTypes
public import NIOCore
import NIOHTTP1
public import NIOHTTPTypes

/// Answers a request that the HTTP/1.1 parser rejected (a header block over the limit, a bad
/// request line, invalid characters) with a JSON error like every other refusal, instead of the
/// empty `400` the server would otherwise send before any route or middleware runs.
///
/// - A header block over the parser's limit (80 KiB by default) gets
///   `431 {"error":"request_header_fields_too_large"}` (RFC 6585 section 5).
/// - Anything else the parser refuses gets `400 {"error":"malformed_request"}`.
///
/// The connection is closed after the answer, since the parser cannot find the next request.
/// Install one per connection, after the HTTP codec:
///
/// ```swift
/// Application(router: router, server: .http1(configuration: .init(
///     additionalChannelHandlers: [ProtocolErrorResponder()])))
/// ```
public final class ProtocolErrorResponder: ChannelDuplexHandler, RemovableChannelHandler {
    /// Request parts, passed on unchanged.
    public typealias InboundIn = HTTPRequestPart
    /// Request parts, as received.
    public typealias InboundOut = HTTPRequestPart
    /// Response parts from the application.
    public typealias OutboundIn = HTTPResponsePart
    /// Response parts to the client.
    public typealias OutboundOut = HTTPResponsePart

    /// Requests whose head has arrived and whose response has not ended: while one is open, an
    /// answer of ours would land inside its response, so the error goes on to the server instead.
    private var openRequests = 0

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { openRequests += 1 }
        context.fireChannelRead(data)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { openRequests = max(0, openRequests - 1) }
        context.write(data, promise: promise)
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError, openRequests == 0 else {
            context.fireErrorCaught(error)
            return
        }
        let (status, code, message) = Self.answer(for: parserError)
        let body = APIError.jsonBody(code: code, message: message)
        let head = HTTPResponse(
            status: status,
            headerFields: [
                .contentType: "application/json; charset=utf-8",
                .contentLength: String(body.readableBytes),
                .cacheControl: "no-store",
                .connection: "close",
            ]
        )
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        let channel = context.channel
        done.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }

    /// Status, code and message for a parser error.
    static func answer(for error: HTTPParserError) -> (HTTPResponse.Status, String, String) {
        switch error {
        case .headerOverflow:
            (
                .init(code: 431, reasonPhrase: "Request Header Fields Too Large"), "request_header_fields_too_large",
                "the request's header fields are too large"
            )
        default:
            (.badRequest, "malformed_request", "the request is not valid HTTP")
        }
    }
}
