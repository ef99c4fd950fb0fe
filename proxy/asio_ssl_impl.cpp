// The one translation unit that compiles Asio's SSL implementation (BOOST_ASIO_SEPARATE_COMPILATION),
// for the TLS listeners and rampart-bench.
#include <boost/asio/ssl/impl/src.hpp>
