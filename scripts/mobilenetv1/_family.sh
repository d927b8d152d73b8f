# MobileNetV1's recipe for the model zoo's data-set names (sourced by the scripts of this folder).
# shellcheck shell=bash
# mobilenet_config NAME: $CONFIG when set, else configs/mobilenet_v1_100_<cifar10|imagenet>.yaml.
mobilenet_config() {
  local root
  root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)"
  case "$1" in
    cifar10) echo "${CONFIG:-$root/configs/mobilenet_v1_100_cifar10.yaml}" ;;
    imagenet2012) echo "${CONFIG:-$root/configs/mobilenet_v1_100_imagenet.yaml}" ;;
    *) echo "error: unknown data set '$1'; expected cifar10 or imagenet2012" >&2; return 1 ;;
  esac
}
