// Asio's SSL implementation, compiled once for rampart-bench: rampart_asio builds Asio with
// BOOST_ASIO_SEPARATE_COMPILATION but without SSL, so the SSL part lives here.
#include <boost/asio/ssl/impl/src.hpp>
